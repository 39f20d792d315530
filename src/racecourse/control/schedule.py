"""Schedules: which process performs each visible operation, as a short string.

A schedule lists one process index per step. With fewer than ten processes it is a string
of digits, ``"0110"``: process 0 performs the first visible operation, then process 1 the
next two, then process 0 the last. With ten or more processes the indices are separated
by dots, ``"0.11.3"`` (one step alone: ``"11."``); dots are accepted for any size. A schedule may carry the sizes it
was found at, ``"2x1:0110"`` (2 processes, 1 operation each), so that it replays on its
own. ``format_schedule(parse_schedule(s))`` gives ``s`` back (digits when possible).
"""

from __future__ import annotations

import re
from typing import List, NamedTuple, Optional, Sequence

from ..errors import RacecourseError

_SIZED = re.compile(r"^(\d+)x(\d+):(.*)$")


class ScheduleError(RacecourseError, ValueError):
    """A schedule string that cannot be read, or that does not fit the run."""


class Sized(NamedTuple):
    steps: List[int]
    processes: Optional[int]
    ops: Optional[int]


def format_schedule(steps: Sequence[int], processes: Optional[int] = None, ops: Optional[int] = None) -> str:
    """``[0, 1, 1, 0]`` -> ``"0110"`` (or ``"2x1:0110"`` when the sizes are given)."""
    if all(0 <= step < 10 for step in steps):
        text = "".join(str(step) for step in steps)
    else:
        text = ".".join(str(step) for step in steps)
        if len(steps) == 1:
            text += "."  # "10." is process 10; "10" would be processes 1 and 0
    if processes is not None and ops is not None:
        return f"{processes}x{ops}:{text}"
    return text


def parse_schedule(text: str) -> Sized:
    """Read a schedule string; raises :class:`ScheduleError` with a one-line reason."""
    stripped = text.strip()
    processes = ops = None
    sized = _SIZED.match(stripped)
    if sized:
        processes, ops, stripped = int(sized.group(1)), int(sized.group(2)), sized.group(3)
        if processes < 1:
            raise ScheduleError(f"bad schedule {text!r}: a run has at least 1 process")
    if "." in stripped:
        parts = stripped.split(".")
        if len(parts) == 2 and parts[1] == "":
            parts = parts[:1]  # the one-step dotted form, "10."
    else:
        parts = list(stripped)
    steps = []
    for part in parts:
        if not part.isdigit() or not part.isascii():
            raise ScheduleError(
                f"bad schedule {text!r}: expected process numbers like '0110' or '0.1.10' "
                f"(optionally sized, '2x1:0110'), found {part!r}"
            )
        steps.append(int(part))
    return Sized(steps, processes, ops)


def check_fits(steps: Sequence[int], processes: int, text: str) -> None:
    """Every step names one of the ``processes`` processes."""
    for position, step in enumerate(steps, 1):
        if step >= processes:
            raise ScheduleError(
                f"bad schedule {text!r}: step {position} names process {step}, "
                f"but there are only {processes} (0 to {processes - 1})"
            )
