"""Text output for people: tables, verdicts, a progress line."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import time
from typing import IO, Callable, Dict, List, Optional, Sequence, Union

from .catalogue import target_of
from .model import Expect, Grade, Scenario
from .results import FastRunResult, RunResult, sizes


def use_colour(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


_COLOURS = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}


def paint(text: str, colour: str, stream: Optional[IO[str]] = None) -> str:
    stream = stream or sys.stdout  # looked up now: a test (or a caller) may have replaced it
    if not use_colour(stream):
        return text
    return f"\033[{_COLOURS[colour]}m{text}\033[0m"


def output_width(stream: Optional[IO[str]] = None) -> Optional[int]:
    """The width to fit: the terminal's, or $COLUMNS; None (no limit) for a pipe or file
    without $COLUMNS, so that scripts reading the table get whole lines."""
    stream = stream or sys.stdout
    if "COLUMNS" in os.environ or stream.isatty():
        return shutil.get_terminal_size().columns
    return None


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: Optional[int] = None) -> str:
    """A plain aligned table (width from the text, not from escape codes). Given ``width``,
    the last column wraps onto continuation lines so that no line is wider."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    indent = sum(widths[:-1]) + 2 * (len(widths) - 1)
    room = width - indent if width is not None else None
    if width is None or room is None or room >= widths[-1]:
        room = None  # it fits
    elif room >= _NARROWEST:
        widths[-1] = max(len(headers[-1]), room)
    else:  # too narrow beside the others: the last column goes under each row instead
        return _table_with_notes(headers, rows, width)
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        last = (textwrap.wrap(row[-1], room) or [""]) if room is not None else [row[-1]]
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(list(row[:-1]) + [last[0]], widths)).rstrip())
        lines.extend(" " * indent + more for more in last[1:])
    return "\n".join(lines)


# A last column narrower than this is hard to read: it goes under its row instead.
_NARROWEST = 30


def _table_with_notes(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> str:
    """The table without its last column, which follows each row, indented and wrapped."""
    body = table(headers[:-1], [row[:-1] for row in rows]).splitlines()
    lines = body[:2]
    for line, row in zip(body[2:], rows):
        lines.append(line)
        lines.extend(textwrap.wrap(f"{headers[-1]}: {row[-1]}", max(_NARROWEST, width - 4),
                                   initial_indent="    ", subsequent_indent="      "))
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
    if result.interrupted:
        return "stopped"
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
                f"{r.wall_seconds:.1f}s",
                outcome_mark(r),
                r.verdict(),
            ]
        )
    # "race": from the first worker past the start line to the last one's end, summed over
    # the trials;
    # "wall": the whole run, process start-up included (most of it under spawn).
    headers = ["scenario", "method", "expect", "procs x ops", "trials", "race", "wall", "result", "verdict"]
    return table(headers, rows, width=output_width())


# The most frequent outcomes a histogram shows one by one; the rest are summed in one line.
HISTOGRAM_ROWS = 12


_GRADE_COLOURS = {Grade.ACCEPTABLE: "green", Grade.INTERESTING: "yellow", Grade.FORBIDDEN: "red"}


def histogram_table(result: FastRunResult, stream: Optional[IO[str]] = None) -> str:
    """A fast run as jcstress shows one: each outcome, how many trials, what share, a bar."""
    n = result.trial_count
    rate = f", {result.trials_per_s:,.0f} trials/s" if result.trial_seconds > 0 else ""
    lines = [
        paint(f"{result.scenario.id}", "bold", stream)
        + f" ({result.start_method}, {result.expect.value}, {sizes(result.processes, result.ops)}):"
        f" {n:,} fast trials in {result.seconds:.1f} s{rate}"
    ]
    rows = []
    histogram = result.histogram()
    grades = result.grades()
    for row in histogram[:HISTOGRAM_ROWS]:
        share = row.count / n if n else 0.0
        if row.lost is not None:
            note = "exact" if row.lost == 0 else (f"lost {row.lost:,}" if row.lost > 0 else f"{-row.lost:,} too many")
        elif result.scenario.is_counter:  # a value, not a count
            note = "expected" if row.outcome == result.expected else f"wrong (expected {result.expected})"
        else:
            note = "" if row.outcome == "held" else "invariant broken"
        bar = "#" * max(1, round(share * 30)) if row.count else ""
        colour = "green" if note in ("exact", "") else "red"
        cells = [str(row.outcome), f"{row.count:,}", f"{100 * share:.2f}%", bar, paint(note, colour, stream) if note else ""]
        kind = grades.get(row.outcome)
        if grades:  # the scenario grades its outcomes: jcstress's columns
            cells += [paint(kind.grade.value, _GRADE_COLOURS[kind.grade], stream) if kind else "",
                      kind.description if kind else ""]
        rows.append(cells)
    rest = histogram[HISTOGRAM_ROWS:]
    if rest:
        count = sum(r.count for r in rest)
        rows.append([f"({len(rest)} more)", f"{count:,}", f"{100 * count / n:.2f}%", "", ""] + (["", ""] if grades else []))
    label = "final count" if result.scenario.counts_updates else "final value" if result.scenario.is_counter else "invariant"
    headers = [label, "trials", "share", "bar", "means"] + (["grade", "what it is"] if grades else [])
    lines.append(table(headers, rows))
    lines.append(result.verdict())
    return "\n".join(lines)


def _came_out_right(result: Union[RunResult, FastRunResult]) -> Optional[bool]:
    """True: every trial completed and came out right; False: one came out wrong (a count,
    a value or an invariant); None: it did not complete, so it says nothing either way."""
    if result.failures or result.interrupted:
        return None
    if isinstance(result, FastRunResult):
        return all(row.lost == 0 or (row.lost is None and result._correct(row.outcome)) for row in result.histogram())
    return not any(t.raced for t in result.trials) if result.trials else None


def start_method_causes(results: Sequence[Union[RunResult, FastRunResult]]) -> List[str]:
    """One line per scenario that came out right under one start method and wrong under
    another, in the same run: the start method is the cause, whatever the scenario declared."""
    lines = []
    by_scenario: Dict[str, List[Union[RunResult, FastRunResult]]] = {}
    for result in results:
        by_scenario.setdefault(result.scenario.id, []).append(result)
    for scenario_id, group in by_scenario.items():
        right = [r.start_method for r in group if _came_out_right(r) is True]
        wrong = [r.start_method for r in group if _came_out_right(r) is False]
        if not right or not wrong:
            continue
        scenario = group[0].scenario
        good, bad = ("exact", "wrong") if scenario.is_counter else ("held", "broken")
        target = target_of(scenario)
        see = f" (see `racecourse explain {target}`)" if target else ""
        lines.append(f"{scenario_id}: {good} under {' and '.join(right)}, {bad} under {' and '.join(wrong)}: "
                     f"the start method is the cause{see}")
    return lines


def failure_details(results: Sequence[Union[RunResult, FastRunResult]]) -> List[str]:
    """The child's traceback (or signal, or timeout) for every run that did not complete."""
    lines: List[str] = []
    for r in results:
        for failure in r.failures:
            lines.append(f"{r.scenario.id} ({r.start_method}): {failure.describe()}")
            if failure.traceback:
                lines.extend("    " + line for line in failure.traceback.rstrip().splitlines())
    return lines


# How often progress may be written when stderr is not a terminal (a pipe, a CI log): a
# line at most this often, and none for work shorter than that.
PIPED_PROGRESS_SECONDS = 5.0


class ProgressLine:
    """Progress of long work on stderr, never on stdout (which may be JSON).

    On a terminal, one line rewritten in place, once the work has taken a second; elsewhere
    (a pipe, a log file), a plain line at most every ``PIPED_PROGRESS_SECONDS``. ``mode``
    "auto" decides so, "always" (``--progress``) shows it from the start, "never"
    (``--quiet``) shows nothing. ``clock`` is there for tests.
    """

    def __init__(self, stream: Optional[IO[str]] = None, delay: float = 1.0, mode: str = "auto",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.live = self.stream.isatty()  # rewrite one line in place
        self.enabled = mode != "never"
        self.clock = clock
        self.started = clock()
        self.delay = 0.0 if mode == "always" else delay if self.live else PIPED_PROGRESS_SECONDS
        self.written_at: Optional[float] = None  # the last plain line's time
        self.shown = False

    def update(self, label: str, done: int, total: int) -> None:
        if not self.due():
            return
        if not self.live:
            self.note(f"{label}: {done:,} of {total:,}")
            return
        width = 20
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "." * (width - filled)
        self.note(f"{label:<28} [{bar}] {done}/{total}")

    def due(self) -> bool:
        """Whether a line would be shown now (so that a caller builds it only then)."""
        if not self.enabled:
            return False
        now = self.clock()
        if now - self.started < self.delay:
            return False
        return self.live or self.written_at is None or now - self.written_at >= PIPED_PROGRESS_SECONDS

    def note(self, text: str) -> None:
        """Show ``text`` as what is being done now: in place on a terminal, else a line."""
        if not self.due():
            return
        if self.live:
            self.stream.write(f"\r{text}\033[K")
            self.shown = True
        else:
            self.stream.write(f"racecourse: {text}\n")
            self.written_at = self.clock()
        self.stream.flush()

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False
