"""Strategies: who goes next at each step, schedule after schedule.

- ``replay``: the steps of a given schedule, nothing else.
- ``exhaustive``: every interleaving, depth first. Each schedule starts again from the
  reset state and replays the prefix it shares with the previous one, then branches. With
  ``reduction`` (sleep sets, Godefroid 1996) it skips interleavings that only reorder
  independent operations (different data, or reads of the same data), and so explores
  one schedule per distinct outcome-relevant order instead of every order; without it
  the count is the combinatorial number of interleavings.
- ``random``: a uniformly random runnable process at every step (seeded).
- ``pct``: probabilistic concurrency testing (Burckhardt et al. 2010): random process
  priorities, the highest-priority runnable process runs, and at ``depth - 1`` random
  steps the running process drops to the lowest priority. A bug of depth d is found
  with probability at least 1/(n k^(d-1)) per schedule (n processes, k steps).
- ``follow``: a list of integers, one per step, each picking among the runnable processes
  (the hypothesis strategy in ``racecourse.control.hypothesis`` draws these lists and
  shrinks them).
"""

from __future__ import annotations

import random
from typing import Dict, Iterator, List, Optional, Sequence, Set

from .engine import Abandon, Chooser, Controller, Execution, RunState, Status, describe_op
from .instrument import ACQUIRE, CHECKPOINT, READ, RELEASE, TRY_ACQUIRE, Op
from .schedule import ScheduleError

STRATEGIES = ("exhaustive", "random", "pct")


def replaying(steps: Sequence[int], text: str) -> Chooser:
    """Follow ``steps`` exactly; a step that names a process that cannot run is an error."""

    def choose(run: RunState) -> int:
        position = len(run.schedule)
        if position >= len(steps):
            waiting = ", ".join(f"{p} ({describe_op(op)})" for p, op in sorted(run.pending.items()))
            raise ScheduleError(
                f"schedule {text!r} ends after {len(steps)} steps, but processes still have operations: {waiting}"
            )
        process = steps[position]
        if process not in run.enabled:
            if process in run.pending:
                op = run.pending[process]
                why = f"its next operation, {describe_op(op)}, cannot go on now ({run.sync.waiting_text(process, op)})"
            else:
                why = "it has already finished"
            raise ScheduleError(f"schedule {text!r}: step {position + 1} names process {process}, but {why}")
        return process

    return choose


def replay(controller: Controller, steps: Sequence[int], text: str, *, watch: bool = True) -> Execution:
    """Run exactly the schedule ``steps`` (``text`` is how the user wrote it)."""
    execution = controller.run(replaying(steps, text), watch=watch)
    if len(execution.schedule) < len(steps):
        raise ScheduleError(
            f"schedule {text!r} has {len(steps)} steps, but the run ended after {len(execution.schedule)}"
            + (" in a deadlock" if execution.status is Status.DEADLOCK else "")
        )
    return execution


def follow(choices: Sequence[int]) -> Chooser:
    """At step i pick ``runnable[choices[i] % len(runnable)]`` (the lowest runnable process
    once the list runs out): every list is a valid schedule, and shorter or smaller lists
    are simpler ones, which is what shrinking needs."""

    def choose(run: RunState) -> int:
        position = len(run.schedule)
        pick = choices[position] if position < len(choices) else 0
        return run.enabled[pick % len(run.enabled)]

    return choose


def random_schedules(controller: Controller, budget: int, seed: int) -> Iterator[Execution]:
    rng = random.Random(seed)

    def choose(run: RunState) -> int:
        return rng.choice(run.enabled)

    for _ in range(budget):
        yield controller.run(choose)


class _Priorities:
    """One PCT schedule: the highest-priority runnable process goes; at each change point the
    process about to run drops below every initial priority."""

    def __init__(self, priority: Dict[int, int], changes: Dict[int, int]) -> None:
        self.priority = priority
        self.changes = changes

    def __call__(self, run: RunState) -> int:
        chosen = max(run.enabled, key=self.priority.__getitem__)
        step = len(run.schedule) + 1
        if step in self.changes:
            self.priority[chosen] = self.changes[step]
            chosen = max(run.enabled, key=self.priority.__getitem__)
        return chosen


def pct_schedules(controller: Controller, budget: int, seed: int, depth: int) -> Iterator[Execution]:
    rng = random.Random(seed)
    length = 1  # the longest schedule seen so far: where change points may fall
    for _ in range(budget):
        # Initial priorities depth .. depth+n-1 (higher runs first); change points get depth-2 .. 0.
        order = list(range(depth, depth + controller.processes))
        rng.shuffle(order)
        points = sorted(rng.sample(range(1, length + 1), min(depth - 1, length)))
        chooser = _Priorities(dict(enumerate(order)), {step: depth - 2 - n for n, step in enumerate(points)})
        execution = controller.run(chooser)
        length = max(length, len(execution.schedule))
        yield execution


# -- exhaustive, with optional sleep sets ----------------------------------------------------


def _overlap(a: str, b: str) -> bool:
    """Two targets that name the same memory: equal, or one a part of the other
    (``counts`` and ``counts[1]``, ``block`` and ``block@4``, ``ns`` and ``ns.count``)."""
    if a == b:
        return True
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return long.startswith(short) and long[len(short)] in "[@."


def independent(first: Op, second: Op) -> bool:
    """Whether two operations of different processes commute: running them in either
    order leads to the same state and neither enables or disables the other."""
    kind_a, key_a, _, needs_a, _ = first
    kind_b, key_b, _, needs_b, _ = second
    if kind_a == CHECKPOINT or kind_b == CHECKPOINT:
        return False  # a user's checkpoint marks code we cannot see: keep every order
    locking = (ACQUIRE, TRY_ACQUIRE, RELEASE)
    if kind_a in locking or kind_b in locking:
        lock_a = key_a if kind_a in locking else needs_a
        lock_b = key_b if kind_b in locking else needs_b
        return lock_a != lock_b
    if kind_a == READ and kind_b == READ:
        return True
    return not _overlap(key_a, key_b)


class _Node:
    __slots__ = ("ops", "enabled", "sleep", "done", "chosen", "width")

    def __init__(self, ops: Dict[int, Op], enabled: List[int], sleep: Set[int]) -> None:
        self.ops = ops
        self.enabled = enabled
        self.sleep = sleep
        self.done: List[int] = []
        self.chosen: Optional[int] = None
        self.width = sum(1 for p in enabled if p not in sleep)  # the branches to explore from here


class Exhaustive:
    """Depth-first enumeration of every schedule (of every trace, with ``reduction``)."""

    def __init__(self, reduction: bool = False) -> None:
        self.reduction = reduction
        self.complete = False
        self.pruned = 0  # executions abandoned because every runnable process was asleep
        self.explored = 0  # complete executions: what the budget counts
        self._stack: List[_Node] = []

    def done_fraction(self) -> float:
        """How much of the tree of schedules the search has covered, if every subtree
        below a node were as large as its siblings: each finished branch of a node on
        the current path counts 1/width of that node's share, and the current path's own
        leaf (just run) its whole share. The usual progress estimate of a depth-first
        search; exact for trees whose siblings are alike, a guess for the others."""
        fraction, share = 0.0, 1.0
        for node in self._stack:
            if not node.width:
                return fraction
            fraction += share * len(node.done) / node.width
            share /= node.width
        return fraction + share

    def remaining(self) -> Optional[int]:
        """An estimate of the complete schedules still to run (from :meth:`done_fraction`)."""
        fraction = self.done_fraction()
        if fraction <= 0.0:
            return None
        return max(0, round(self.explored / fraction) - self.explored)

    def executions(self, controller: Controller, budget: Optional[int]) -> Iterator[Execution]:
        stack: List[_Node] = self._stack
        reduction = self.reduction

        def choose(run: RunState) -> int:
            position = len(run.schedule)
            if position < len(stack):
                chosen = stack[position].chosen
                assert chosen is not None
                return chosen
            sleep: Set[int] = set()
            if reduction and stack:
                parent = stack[-1]
                assert parent.chosen is not None
                taken = parent.ops[parent.chosen]
                sleep = {p for p in parent.sleep.union(parent.done) if independent(parent.ops[p], taken)}
            node = _Node(dict(run.pending) if reduction else {}, list(run.enabled), sleep)
            stack.append(node)
            choices = [p for p in node.enabled if p not in sleep]
            if not choices:
                raise Abandon()  # every order from here was covered by an earlier schedule
            node.chosen = choices[0]
            return node.chosen

        while budget is None or self.explored < budget:  # pruned runs are counted apart
            execution = controller.run(choose)
            if execution.status is Status.ABANDONED:
                self.pruned += 1
            else:
                self.explored += 1
                yield execution
            while stack:  # backtrack to the deepest node with an unexplored choice
                node = stack[-1]
                if node.chosen is not None:
                    node.done.append(node.chosen)
                remaining = [p for p in node.enabled if p not in node.sleep and p not in node.done]
                if remaining:
                    node.chosen = remaining[0]
                    break
                stack.pop()
            if not stack:
                self.complete = True
                return
