"""Timelines of one schedule: one lane per process, the operations in order, the value read
or written, the shared state after each step, and the lost update marked. As text (in
colour on a terminal) and as a hand-written SVG picture."""

from __future__ import annotations

from html import escape as _escape
from typing import List

from ..report import _COLOURS
from ..results import sizes
from .engine import Execution

_LANE_MAX = 34  # characters: long labels are cut so that the lanes stay side by side


def escape(text: str) -> str:
    """&, < and > as entities (html's escape, which loads far less than xml.sax's)."""
    return _escape(text, quote=False)


def _paint(text: str, colour: str, on: bool) -> str:
    return f"\033[{_COLOURS[colour]}m{text}\033[0m" if on else text


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def header(execution: Execution, scenario_id: str, start_method: str) -> str:
    return (f"{scenario_id}: {sizes(execution.processes, execution.ops)}, {start_method}, "
            f"schedule {execution.schedule_text or '(empty)'}")


def ending(execution: Execution) -> List[str]:
    """What the schedule came to: the outcome, the deadlock, a worker's error."""
    lines = [f"outcome: {execution.outcome}"]
    if execution.deadlock:
        lines.append(f"deadlock: {execution.deadlock}")
    if execution.livelock:
        lines.append(f"livelock: {execution.livelock}")
    for process, (summary, _) in sorted(execution.errors.items()):
        lines.append(f"process {process} raised {summary}")
    return lines


def timeline_text(execution: Execution, scenario_id: str, start_method: str, *, colour: bool = False) -> str:
    lanes = execution.processes
    cells = [[""] * lanes for _ in execution.steps]
    for row, step in enumerate(execution.steps):
        cells[row][step.process] = _cut(step.describe() + (" LOST" if step.lost else ""), _LANE_MAX)
    widths = [max([len(f"process {p}")] + [len(row[p]) for row in cells]) for p in range(lanes)]
    title = ["step"] + [f"process {p}".ljust(widths[p]) for p in range(lanes)] + ["shared"]
    lines = [_paint(header(execution, scenario_id, start_method), "bold", colour), "  ".join(title).rstrip()]
    for row, step in enumerate(execution.steps):
        text = []
        for p in range(lanes):
            cell = cells[row][p].ljust(widths[p])
            if p == step.process and step.lost:
                cell = _paint(cell, "red", colour)
            elif p == step.process:
                cell = _paint(cell, ("green", "yellow", "bold")[p % 3], colour)
            text.append(cell)
        lines.append(f"{row + 1:>4}  " + "  ".join(text) + "  " + (step.state or ""))
        if step.lost:
            lines.append("      " + _paint(f"^ process {step.process} {step.lost}: that update is lost", "red", colour))
    for line in ending(execution):
        bad = not execution.correct and (line.startswith(("outcome", "deadlock", "livelock")) or "raised" in line)
        lines.append(_paint(line, "red" if bad else "green", colour))
    return "\n".join(line.rstrip() for line in lines)


def _text_width(characters: int) -> int:
    """Pixels that ``characters`` of 12 px monospace take (0.6 em each), with a margin."""
    return int(characters * 7.3) + 16


def timeline_svg(execution: Execution, scenario_id: str, start_method: str) -> str:
    """The timeline as a standalone SVG document (no dependencies, no scripts)."""
    lane_width, row_height, left, top, state_width = 250, 26, 56, 64, 170
    lanes = execution.processes
    notes = ending(execution)
    heading = header(execution, scenario_id, start_method)
    # Wide enough for every line of text, not just the lanes: a deadlock's note is long.
    longest_state = max([len(step.state or "") for step in execution.steps] + [len("shared")])
    width = max(
        left + lanes * lane_width + max(state_width, _text_width(longest_state)),
        8 + _text_width(max([len(note) for note in notes] + [len(heading) * 14 // 12])),
    )
    height = top + row_height * max(1, len(execution.steps)) + 24 + 18 * len(notes)
    title = escape(heading)
    lane_height = row_height * max(1, len(execution.steps))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="8" y="20" font-size="14" font-weight="bold">{title}</text>',
    ]
    for p in range(lanes):
        x = left + p * lane_width
        out.append(f'<rect x="{x}" y="{top - 22}" width="{lane_width - 8}" height="{lane_height + 22}" '
                   'fill="#f4f6f8" stroke="#c8ccd0"/>')
        out.append(f'<text x="{x + 8}" y="{top - 6}" font-weight="bold">process {p}</text>')
    out.append(f'<text x="{left + lanes * lane_width + 4}" y="{top - 6}" font-weight="bold">shared</text>')
    for row, step in enumerate(execution.steps):
        y = top + row * row_height
        x = left + step.process * lane_width
        fill, stroke = ("#fde2e1", "#d0342c") if step.lost else ("#e3effd", "#4a7fc1")
        out.append(f'<text x="8" y="{y + 17}" fill="#667">{row + 1}</text>')
        out.append(f'<rect x="{x + 4}" y="{y + 3}" width="{lane_width - 16}" height="{row_height - 6}" rx="4" '
                   f'fill="{fill}" stroke="{stroke}"/>')
        label = _cut(step.describe() + (" LOST" if step.lost else ""), 32)
        title = f"<title>{escape(step.lost)}</title>" if step.lost else ""
        out.append(f'<text x="{x + 10}" y="{y + 17}">{title}{escape(label)}</text>')
        if step.state:
            out.append(f'<text x="{left + lanes * lane_width + 4}" y="{y + 17}">{escape(step.state)}</text>')
    y = top + row_height * max(1, len(execution.steps)) + 20
    for note in notes:
        colour = "#1a7f37" if execution.correct else "#d0342c"
        out.append(f'<text x="8" y="{y}" fill="{colour}">{escape(note)}</text>')
        y += 18
    out.append("</svg>")
    return "\n".join(out) + "\n"
