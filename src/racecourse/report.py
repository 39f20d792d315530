"""Text output for people: tables, verdicts, a progress line."""

from __future__ import annotations

import os
import sys
import time
from typing import IO, List, Sequence, Union

from .model import Expect, Scenario
from .results import FastRunResult, RunResult


def use_colour(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


_COLOURS = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}


def paint(text: str, colour: str, stream: IO[str] = sys.stdout) -> str:
    if not use_colour(stream):
        return text
    return f"\033[{_COLOURS[colour]}m{text}\033[0m"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned table (width from the text, not from escape codes)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
    return "\n".join(lines)


def catalogue_table(scenarios: Sequence[Scenario]) -> str:
    rows = [[s.id, s.expect.value, s.title] for s in scenarios]
    return table(["id", "expect", "what it shows"], rows)


def markdown_table(scenarios: Sequence[Scenario]) -> str:
    """The catalogue as README Markdown: id, expectation, title, the lesson's first line."""
    lines = ["| id | expect | what it shows | default size |", "|---|---|---|---|"]
    for s in scenarios:
        d = s.defaults
        lines.append(f"| `{s.id}` | {s.expect.value} | {s.title} | {d.processes} x {d.ops:,} ops, {d.trials} trials |")
    return "\n".join(lines)


def outcome_mark(result: RunResult) -> str:
    """A short word for the table: did the scenario behave as it declared?"""
    status = result.exit_status
    if status == 3:
        return "FAILED"
    if status == 1:
        return "BROKEN"
    expect = result.expect
    if expect is Expect.RACY:
        return "raced" if any(t.raced for t in result.trials) else "no race seen"
    if expect is Expect.DEADLOCK:
        return "deadlocked" if any(t.violation for t in result.trials) else "no deadlock seen"
    return "ok"


def run_table(results: Sequence[RunResult]) -> str:
    rows = []
    for r in results:
        seconds = sum(t.seconds for t in r.trials)
        rows.append(
            [
                r.scenario.id,
                r.start_method,
                r.expect.value,
                f"{r.processes}x{r.ops:,}",
                str(len(r.trials)),
                f"{seconds:.2f}s",
                outcome_mark(r),
                r.verdict(),
            ]
        )
    return table(["scenario", "method", "expect", "procs x ops", "trials", "time", "result", "verdict"], rows)


# The most frequent outcomes a histogram shows one by one; the rest are summed in one line.
HISTOGRAM_ROWS = 12


def histogram_table(result: FastRunResult, stream: IO[str] = sys.stdout) -> str:
    """A fast run as jcstress shows one: each outcome, how many trials, what share, a bar."""
    n = result.trial_count
    rate = f", {result.trials_per_s:,.0f} trials/s" if result.trial_seconds > 0 else ""
    lines = [
        paint(f"{result.scenario.id}", "bold", stream)
        + f" ({result.start_method}, {result.expect.value}, {result.processes} processes x {result.ops:,} ops):"
        f" {n:,} fast trials in {result.seconds:.1f} s{rate}"
    ]
    rows = []
    histogram = result.histogram()
    for row in histogram[:HISTOGRAM_ROWS]:
        share = row.count / n if n else 0.0
        if row.lost is not None:
            note = "exact" if row.lost == 0 else (f"lost {row.lost:,}" if row.lost > 0 else f"{-row.lost:,} too many")
        else:
            note = "" if row.outcome == "held" else "invariant broken"
        bar = "#" * max(1, round(share * 30)) if row.count else ""
        colour = "green" if note in ("exact", "") else "red"
        rows.append([str(row.outcome), f"{row.count:,}", f"{100 * share:.2f}%", bar, paint(note, colour, stream) if note else ""])
    rest = histogram[HISTOGRAM_ROWS:]
    if rest:
        count = sum(r.count for r in rest)
        rows.append([f"({len(rest)} more)", f"{count:,}", f"{100 * count / n:.2f}%", "", ""])
    label = "final count" if result.scenario.is_counter else "invariant"
    lines.append(table([label, "trials", "share", "", ""], rows))
    lines.append(result.verdict())
    return "\n".join(lines)


def failure_details(results: Sequence[Union[RunResult, FastRunResult]]) -> List[str]:
    """The child's traceback (or signal, or timeout) for every run that did not complete."""
    lines: List[str] = []
    for r in results:
        for failure in r.failures:
            lines.append(f"{r.scenario.id} ({r.start_method}): {failure.describe()}")
            if failure.traceback:
                lines.extend("    " + line for line in failure.traceback.rstrip().splitlines())
    return lines


class ProgressLine:
    """A one-line progress indicator on stderr, shown only for work longer than a second."""

    def __init__(self, stream: IO[str] = sys.stderr, delay: float = 1.0) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.started = time.monotonic()
        self.delay = delay
        self.shown = False

    def update(self, label: str, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.started < self.delay:
            return
        width = 20
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "." * (width - filled)
        self.note(f"{label:<28} [{bar}] {done}/{total}")

    def note(self, text: str) -> None:
        """Show ``text`` as the line (what is being done now), replacing what was there."""
        if not self.enabled or time.monotonic() - self.started < self.delay:
            return
        self.stream.write(f"\r{text}\033[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


