"""The worker's code as a learner follows it under control: its source with each process's
current line marked, which half of a ``+=`` comes next, and which locks each process holds.

``play`` (in the terminal and in the page) and ``replay --code`` show it. The lines come
from a :class:`~racecourse.control.Controller` made with ``lines=True``: each operation a
worker reports then carries the line of the worker function it comes from.
"""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .control.engine import Execution, Step, describe_op
from .control.instrument import ACQUIRE, READ, RELEASE, TRY_ACQUIRE, WRITE, Op
from .model import Scenario

# An augmented assignment (``+=``, ``-=``, ``//=``...): a read and a write, two visible steps.
_AUGMENTED = re.compile(r"(\*\*|//|>>|<<|[-+*/%&|^@])=")


@dataclass
class WorkerCode:
    """The source of a scenario's worker function and of the functions of its file that it
    calls (deadlock's ``transfer``), with the file's own line numbers."""

    numbered: List[Tuple[Optional[int], str]]  # (line number, text); (None, "") between two functions
    path: str
    first: int  # the worker's first line

    @classmethod
    def of(cls, scenario: Scenario) -> Optional["WorkerCode"]:
        """The worker's code, or None when its source is not available (made in ``python -c``)."""
        worker = scenario.worker
        if not inspect.isfunction(worker):
            return None
        blocks = []
        try:
            path = inspect.getsourcefile(worker) or "?"
            for function in _same_file_callees(worker):
                lines, first = inspect.getsourcelines(function)
                blocks.append((first, [line.rstrip("\n") for line in lines]))
            first = inspect.getsourcelines(worker)[1]
        except (OSError, TypeError):
            return None
        numbered: List[Tuple[Optional[int], str]] = []
        for start, lines in sorted(blocks):
            if numbered:
                numbered.append((None, ""))
            numbered.extend((start + offset, text) for offset, text in enumerate(lines))
        return cls(numbered, path, first)

    def text(self, number: Optional[int]) -> str:
        """Line ``number`` of the file, stripped, or "" when it is not shown."""
        for shown, text in self.numbered:
            if shown == number and number is not None:
                return text.strip()
        return ""

    @property
    def width(self) -> int:
        """The width of the largest line number."""
        return max(len(str(number)) for number, _ in self.numbered if number is not None)

    @property
    def where(self) -> str:
        relative = os.path.relpath(self.path)
        return f"{self.path if relative.startswith(os.pardir) else relative}, line {self.first}"


def _same_file_callees(worker: Callable[..., Any]) -> List[Callable[..., Any]]:
    """The worker and every function of its file that it calls, directly or not, by name."""
    filename = worker.__code__.co_filename
    found = [worker]
    for function in found:
        for name in function.__code__.co_names:
            value = function.__globals__.get(name)
            if inspect.isfunction(value) and value.__code__.co_filename == filename and value not in found:
                found.append(value)
    return found


def augmented(source_line: str) -> Optional[str]:
    """The operator of an augmented assignment on this line (``+=``), or None."""
    code = source_line.split("#", 1)[0]
    found = _AUGMENTED.search(code)
    return found.group(0) if found else None


def half(kind: str, source_line: str) -> Optional[str]:
    """For an operation on a ``+=`` line, which half it is: the read comes first (another
    process may run before the write), the write stores what was computed from it."""
    operator = augmented(source_line)
    if operator is None:
        return None
    if kind == READ:
        return f"the read of {operator}; its write comes later"
    if kind == WRITE:
        return f"the write of {operator}; its read is done"
    return None


def where(kind: str, line: Optional[int], code: Optional[WorkerCode]) -> str:
    """"line 24, the read of +=; its write comes later", or "" without a line."""
    if line is None:
        return ""
    source = code.text(line) if code is not None else ""
    part = half(kind, source)
    return f"line {line}" + (f", {part}" if part else "")


def lock_holders(steps: Sequence[Step]) -> Dict[str, List[int]]:
    """Which processes hold each lock (by key) after ``steps``, innermost last."""
    holders: Dict[str, List[int]] = {}
    for step in steps:
        if step.kind == ACQUIRE or (step.kind == TRY_ACQUIRE and step.value):
            holders.setdefault(step.key, []).append(step.process)
        elif step.kind == RELEASE and holders.get(step.key):
            holders[step.key].pop()
    return {key: owners for key, owners in holders.items() if owners}


def lock_labels(steps: Sequence[Step]) -> Dict[str, str]:
    return {step.key: step.label for step in steps if step.kind in (ACQUIRE, TRY_ACQUIRE, RELEASE)}


@dataclass
class ProcessView:
    """One process between two steps: what it does next, where, what it holds or awaits."""

    process: int
    state: str  # "runnable", "waiting", "finished"
    next: str  # the next operation in words ("" when finished)
    line: Optional[int]
    where: str  # "line 24, the read of +=; its write comes later"
    holds: List[str]
    waits_for: Optional[str]  # the lock it waits for
    held_by: Optional[int]  # the process holding it

    def describe(self) -> str:
        if self.state == "finished":
            return f"process {self.process}: finished"
        at = f" ({self.where})" if self.where else ""
        holds = f"; holds {', '.join(self.holds)}" if self.holds else ""
        if self.state == "waiting":
            owner = "?" if self.held_by is None else str(self.held_by)
            return f"process {self.process}: waits to {self.next} (held by process {owner}){at}{holds}"
        return f"process {self.process}: next {self.next}{at}{holds}"


def process_views(processes: int, pending: Dict[int, Op], enabled: Sequence[int], lines: Dict[int, Optional[int]],
                  steps: Sequence[Step], code: Optional[WorkerCode]) -> List[ProcessView]:
    """Every process as it stands now, from a RunState's pending operations and steps."""
    holders = lock_holders(steps)
    labels = lock_labels(steps)
    views = []
    for process in range(processes):
        held = [labels.get(key, key) for key, owners in holders.items() if process in owners]
        if process not in pending:
            views.append(ProcessView(process, "finished", "", None, "", held, None, None))
            continue
        op = pending[process]
        kind, key, label, needs, _ = op
        line = lines.get(process)
        state = "runnable" if process in enabled else "waiting"
        wanted = (key if kind == ACQUIRE else needs) if state == "waiting" else None
        owners = holders.get(wanted or "")
        views.append(ProcessView(process, state, describe_op(op), line, where(kind, line, code), held,
                                 labels.get(wanted or "", wanted) if wanted else None, owners[-1] if owners else None))
    return views


def listing(code: WorkerCode, at: Dict[int, Optional[int]]) -> List[str]:
    """The worker's source, numbered, with a gutter naming the processes whose next
    operation is on each line: ``0 1   24          counter.value += 1``."""
    processes = sorted(at)
    width = max([len(str(p)) for p in processes] + [1])
    out = []
    for number, text in code.numbered:
        gutter = " ".join((str(p) if number is not None and at[p] == number else "").rjust(width) for p in processes)
        shown = "" if number is None else str(number)
        out.append(f"{gutter}  {shown:>{code.width}}  {text}".rstrip())
    return out


def code_timeline(execution: Execution, code: WorkerCode) -> str:
    """Each step of a schedule next to the line of the worker it ran: replay --code."""
    lines = [f"the worker ({code.where}):"]
    lines.extend(f"  {'' if number is None else number:>{code.width}}  {text}".rstrip() for number, text in code.numbered)
    lines.append("")
    rows = [["step", "process", "line", "code", "operation"]]
    for number, step in enumerate(execution.steps, 1):
        source = code.text(step.line)
        part = half(step.kind, source)
        statement = source.split("#", 1)[0].rstrip()  # the comment is in the listing above
        rows.append([str(number), str(step.process), "" if step.line is None else str(step.line), statement,
                     step.describe() + (f" ({part})" if part else "") + (" LOST" if step.lost else "")])
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)
