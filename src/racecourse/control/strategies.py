"""Strategies: who goes next at each step, schedule after schedule.

- ``replay``: the steps of a given schedule, nothing else.
- ``exhaustive``: every interleaving, depth first. Each schedule starts again from the
  reset state and replays the prefix it shares with the previous one, then branches.
  Without ``reduction`` the count is the combinatorial number of interleavings. With it,
  the search runs one schedule per class of schedules that only reorder commuting steps
  (a Mazurkiewicz trace), pruning with sleep sets (Godefroid 1996), over transitions
  rather than single operations:

  * A critical section is one transition: a process that acquires a free lock runs on,
    with no other process scheduled, through its reads and writes of data to the
    matching release. What it touched (its footprint) is learnt as it runs. Two whole
    sections on the same lock commute when their footprints do (different data, or only
    reads of the same data): the lock is free before and after each. ``locked-array`` at
    2 x 1 runs 16 schedules (2 orders of the two sections on each of its 4 slots), not
    70 (every order of the 8 sections).
  * That is sound only while the data a section touches is not touched by another process
    outside that lock (the reduction theorem of Lipton 1975; the same condition lets
    CHESS switch processes only at synchronization for data-race-free programs). So each
    access is noted with the locks its process held (Eraser's lockset, Savage et al.
    1997), over every schedule run; data two processes touch, one writing, with no lock
    common to all accesses is unprotected. An unprotected access ends a section's
    transition; a lock ever taken with a try (which could see a section in progress) and
    a ``checkpoint`` (code racecourse cannot see) do the same for every section. If the
    search had already run such an access inside a section's transition, it begins again
    with the finer transitions (``restarts``); the schedules run before were real ones.
  * Two acquires of a semaphore whose count is at least 2 commute (both succeed).
  * State caching (``racecourse.control.states``): at each choice point the search reads
    the whole state (shared memory, the models of locks, semaphores and events, and each
    process's frames, locals and the values its current statement received, reported
    by the worker); a schedule that reaches a state whose subtree was explored with a
    sleep set no larger than the current one stops there (Godefroid 1996, ch. 5: without
    that subset check, sleep sets and caching together lose traces). Where the state
    cannot be told faithfully (a queue, a Manager object, code that keeps state outside
    its frames, a local racecourse cannot encode, an exception being handled) that node
    is not cached. Bookkeeping's bytes are part of the state but its updates are no
    operations: with caching, a transition that changed them counts as a write to one
    bookkeeping place, so two such transitions keep both orders (the most ever inside,
    which semaphore-by-hand checks, depends on the order of one coming in and another
    going out).

  Why caching and not symmetry over interchangeable workers: ``locked-array`` at 4 x 1 has
  331,776 classes (below), and symmetry divides that by at most 4! = 24, leaving more than
  the budget; but once a section's ``counts[slot] += 1`` is done, the value it read is in
  no local, so the states are only how far each process got: 5**4 = 625 of them, and the
  search runs 4 complete schedules (one per last process) in about 2 s.

  Why this and not optimal DPOR (Abdulla et al. 2014: Nidhugg) or reads-from equivalence
  (GenMC; Kokologiannakis et al. 2019, 2022): both need to know, for each operation, which
  earlier write it read or which racing operation to reverse, and build the schedules to
  try from races found in whole executions; racecourse's controller drives real processes
  that can only be replayed from the start, and its dominant cost is the pipe round trip
  per operation, so the gain that matters is fewer schedules where the programs people
  write lock their data, which sections as transitions give with a few lines on top of
  the existing sleep sets. Loom (DPOR with bounded preemptions) and Shuttle (random and
  PCT search, DFS without reduction) keep each synchronization operation a scheduling
  point. No sound equivalence of this family merges different orders of sections on the
  same data: ``locked-array`` at 4 x 1 has 4!**4 = 331,776 classes (each slot's 4
  increments in every order, each reading what the one before wrote), under reads-from
  equivalence too.
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
from typing import Dict, FrozenSet, Hashable, Iterator, List, Optional, Sequence, Set, Tuple

from .engine import Abandon, Chooser, Controller, Execution, RunState, Status, describe_op
from .instrument import ACQUIRE, CHECKPOINT, READ, RELEASE, TRY_ACQUIRE, UPDATE, WRITE, Op
from .schedule import ScheduleError
from .states import SharedState, Visited, models

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


# A transition as the reduction compares it: the operations one process ran from one choice
# point, and the lock whose whole critical section they are (acquire .. release), if so.
Footprint = Tuple[Tuple[Op, ...], Optional[str]]

_DATA = (READ, WRITE, UPDATE)
# What a transition that changed a bookkeeping object's bytes counts as in its footprint
# (with state caching, which reads those bytes: SharedState.bookkeeping).
_BOOKKEEPING_WRITE = Op(WRITE, "bookkeeping", "bookkeeping", None, False)
_TAKES = (ACQUIRE, TRY_ACQUIRE)


def _commute(first: Footprint, second: Footprint, roomy: FrozenSet[str]) -> bool:
    """Whether two transitions of different processes commute in the state where both are
    enabled. Two whole critical sections on the same lock leave it as they found it (free),
    so their lock operations cancel and only their data decides; two acquires of a
    semaphore whose count is at least 2 there (``roomy``) both succeed in either order."""
    ops_a, section_a = first
    ops_b, section_b = second
    shared_section = section_a if section_a is not None and section_a == section_b else None
    for a in ops_a:
        for b in ops_b:
            if shared_section is not None:
                if a.kind in _DATA and b.kind in _DATA:
                    if a.kind == READ and b.kind == READ or not _overlap(a.key, b.key):
                        continue
                    return False
                if a.key == shared_section or b.key == shared_section:
                    continue  # the section's own acquire and release
            if (a.kind in _TAKES and b.kind in _TAKES and a.key == b.key and a.key in roomy):
                continue
            if not independent(a, b):
                return False
    return True


class _Node:
    """A choice point: who could start a transition here, who sleeps (with the transition
    each sleeper would run), who has been tried, and what each tried process ran."""

    __slots__ = ("enabled", "sleep", "done", "ran", "chosen", "width", "roomy", "state")

    def __init__(self, enabled: List[int], sleep: Dict[int, Footprint], roomy: FrozenSet[str]) -> None:
        self.enabled = enabled
        self.sleep = sleep
        self.done: List[int] = []
        self.ran: Dict[int, Footprint] = {}
        self.chosen: Optional[int] = None
        self.width = sum(1 for p in enabled if p not in sleep)  # the branches to explore from here
        self.roomy = roomy  # semaphores whose count is at least 2 here: their acquires commute
        self.state: Optional[Hashable] = None  # the run's state here, when it can be told (control.states)


class _Locksets:
    """Which locks every access to each piece of data was made under, over every schedule
    run so far (Eraser's lockset, Savage et al. 1997): data that two processes touch, one
    of them writing, with no lock common to all the accesses, is unprotected."""

    def __init__(self) -> None:
        self.common: Dict[str, FrozenSet[str]] = {}
        self.processes: Dict[str, Set[int]] = {}
        self.written: Set[str] = set()
        self.unprotected: Set[str] = set()

    def note(self, process: int, op: Op, held: FrozenSet[str]) -> None:
        key = op.key
        locks = held | {op.needs} if op.needs is not None else held
        common = self.common.get(key)
        processes = self.processes.setdefault(key, set())
        if common is not None and locks >= common and process in processes and (op.kind == READ or key in self.written):
            return  # nothing new: the usual case, checked first
        self.common[key] = locks if common is None else common & locks
        processes.add(process)
        if op.kind != READ:
            self.written.add(key)
        self._check(key)

    def _check(self, key: str) -> None:
        related = [other for other in self.common if _overlap(key, other)]
        processes = set().union(*(self.processes[other] for other in related))
        common = frozenset.intersection(*(self.common[other] for other in related))
        if len(processes) > 1 and not common and any(other in self.written for other in related):
            self.unprotected.update(related)


class Exhaustive:
    """Depth-first enumeration of every schedule (of every trace, with ``reduction``).

    ``reduction`` prunes with sleep sets over single operations; ``sections`` (with
    ``reduction``) makes each critical section one transition, and ``states`` (with
    ``reduction``) caches states, as the module says."""

    def __init__(self, reduction: bool = False, sections: bool = True, states: bool = True) -> None:
        self.reduction = reduction
        self.sections = reduction and sections
        self.states = reduction and states  # prune schedules that reach a state already explored
        self.visited = Visited()
        self.complete = False
        self.pruned = 0  # executions abandoned because every runnable process was asleep
        self.explored = 0  # complete executions: what the budget counts
        self.restarts = 0  # times the search began again with finer transitions
        self._stack: List[_Node] = []
        self._locksets = _Locksets()
        self._absorbed: Set[str] = set()  # data run inside a section's transition
        self._fine_locks: Set[str] = set()  # locks whose sections are not single transitions
        self._sectioned: Set[str] = set()  # locks whose sections were run as single transitions

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

    @property
    def cached(self) -> int:
        """Schedules pruned because they reached a state already explored."""
        return self.visited.hits

    def executions(self, controller: Controller, budget: Optional[int]) -> Iterator[Execution]:
        search = _Search(self, controller)
        while True:
            search.reset()
            execution = controller.run(search.choose, states=search.shared is not None)
            search.finish()
            if execution.status is Status.ABANDONED:
                self.pruned += 1
            elif budget is not None and self.explored >= budget:
                return  # one schedule past the budget: the search is not complete
            else:
                self.explored += 1
                yield execution
            if self._learnt(search):
                continue
            if not self._backtrack():
                self.complete = True
                return

    def _learnt(self, search: "_Search") -> bool:
        """Note what the schedule just run shows about locks and data; True if a section
        was run as one transition on an assumption it disproved, in which case the search
        begins again with finer transitions (every schedule so far was a real one)."""
        if not self.sections:
            return False
        for process, op, held in search.trace:
            if op.kind in _DATA:
                self._locksets.note(process, op, held)
            elif op.kind == TRY_ACQUIRE:
                self._fine_locks.add(op.key)  # a try sees a section in progress: keep its steps
            elif op.kind == CHECKPOINT:
                self.sections = False  # code racecourse cannot see may touch anything
        disproved = (self._absorbed & self._locksets.unprotected or self._sectioned & self._fine_locks
                     or not self.sections and self._sectioned)
        if not disproved:
            return False
        if self.sections:
            self._absorbed -= self._locksets.unprotected
            self._sectioned -= self._fine_locks
        else:
            self._absorbed.clear()
            self._sectioned.clear()
        self._stack.clear()
        self.visited.clear()  # explored with transitions now known to be too coarse
        self.restarts += 1
        return True

    def _backtrack(self) -> bool:
        """Move to the deepest node with an unexplored choice; False when none is left."""
        stack = self._stack
        while stack:
            node = stack[-1]
            if node.chosen is not None:
                node.done.append(node.chosen)
            remaining = [p for p in node.enabled if p not in node.sleep and p not in node.done]
            if remaining:
                node.chosen = remaining[0]
                return True
            stack.pop()
            if node.state is not None:  # its whole subtree is explored
                self.visited.explored(node.state, frozenset(node.sleep.items()))
        return False


class _Search:
    """One schedule of an exhaustive search: replays the path of nodes it shares with the
    previous schedule, then opens new nodes, one per transition."""

    def __init__(self, owner: Exhaustive, controller: Controller) -> None:
        self.owner = owner
        self.semaphores = frozenset(controller.known_resources)
        shared = SharedState(controller.found) if owner.states else None
        self.shared = shared if shared is not None and shared.cacheable else None
        self.reset()

    def reset(self) -> None:
        self.depth = 0  # nodes passed in this schedule
        self.running: Optional[int] = None  # the process whose transition is under way
        self.ops: List[Op] = []  # that transition's operations so far
        self.section: Optional[str] = None  # the lock whose section it runs as one transition
        self.closed = False  # the section's release has run
        self.trace: List[Tuple[int, Op, FrozenSet[str]]] = []  # (process, op, locks it held)
        self.held: Dict[int, Dict[str, int]] = {}
        self.bookkeeping_before: Optional[Tuple[bytes, ...]] = None  # at the start of the transition under way

    def choose(self, run: RunState) -> int:
        owner = self.owner
        if self.running is not None:
            self._track(run)
            process = self.running
            op = run.pending.get(process)
            if op is not None and self.section is not None and not self.closed and self._inside(op) \
                    and process in run.enabled:
                return self._take(process, op)
            self._close()
        stack = owner._stack
        if self.depth < len(stack):
            replayed = stack[self.depth].chosen
            assert replayed is not None
            process = replayed
        else:
            node = self._open(run)
            stack.append(node)
            if self.shared is not None:
                node.state = self._state(run)
                if node.state is not None and owner.visited.covers(node.state, frozenset(node.sleep.items())):
                    stack.pop()
                    raise Abandon()  # explored from this very state before, with no more asleep
            choices = [p for p in node.enabled if p not in node.sleep]
            if not choices:
                raise Abandon()  # every order from here was covered by an earlier schedule
            process = node.chosen = choices[0]
        self.depth += 1
        self.running = process
        if self.shared is not None:
            self.bookkeeping_before = self.shared.bookkeeping()
        op = run.pending[process]
        self.section = None
        self.closed = False
        if owner.sections and op.kind == ACQUIRE and op.key not in self.semaphores \
                and op.key not in owner._fine_locks and not self.held.get(process, {}).get(op.key):
            self.section = op.key
            owner._sectioned.add(op.key)
        return self._take(process, op)

    def _inside(self, op: Op) -> bool:
        """Whether ``op`` continues the running section's transition: an access to data
        not known to be unprotected, or the section's own release."""
        if op.kind in _DATA:
            return (op.needs is None or op.needs == self.section) and op.key not in self.owner._locksets.unprotected
        return op.kind == RELEASE and op.key == self.section

    def _take(self, process: int, op: Op) -> int:
        if self.ops and op.kind in _DATA:
            self.owner._absorbed.add(op.key)
        if op.kind == RELEASE and op.key == self.section:
            self.closed = True
        self.ops.append(op)
        self.trace.append((process, op, frozenset(self.held.get(process, ()))))
        return process

    def _track(self, run: RunState) -> None:
        """Which locks the running process holds after its last step (a try's result is
        known only once it ran)."""
        process, op = self.trace[-1][0], self.trace[-1][1]
        if op.key in self.semaphores:
            return
        held = self.held.setdefault(process, {})
        if op.kind == ACQUIRE or op.kind == TRY_ACQUIRE and run.steps[-1].value:
            held[op.key] = held.get(op.key, 0) + 1
        elif op.kind == RELEASE and held.get(op.key):
            held[op.key] -= 1
            if not held[op.key]:
                del held[op.key]

    def _close(self) -> None:
        """Record the transition that just ended at the node it started from."""
        if self.running is None:
            return
        node = self.owner._stack[self.depth - 1]
        ops = tuple(self.ops)
        if self.shared is not None and self.bookkeeping_before != self.shared.bookkeeping():
            ops += (_BOOKKEEPING_WRITE,)  # see SharedState.bookkeeping
        node.ran[self.running] = (ops, self.section if self.closed else None)
        self.running = None
        self.ops = []

    def _open(self, run: RunState) -> _Node:
        stack = self.owner._stack
        sleep: Dict[int, Footprint] = {}
        if self.owner.reduction and stack:
            parent = stack[-1]
            assert parent.chosen is not None
            taken = parent.ran[parent.chosen]
            for process in parent.done:
                if _commute(parent.ran[process], taken, parent.roomy):
                    sleep[process] = parent.ran[process]
            for process, footprint in parent.sleep.items():
                if _commute(footprint, taken, parent.roomy):
                    sleep[process] = footprint
        roomy = frozenset(key for key in self.semaphores if self.owner.sections
                          and getattr(run.sync.resources.get(key), "count", 0) >= 2)
        return _Node(list(run.enabled), sleep, roomy)

    def _state(self, run: RunState) -> Optional[Hashable]:
        """The whole state of the run here, or None if a part of it cannot be told."""
        assert self.shared is not None
        processes = []
        for process in range(run.controller.processes):
            local = run.states.get(process)
            if local is None:
                return None
            op = run.pending.get(process)
            processes.append((local, None if op is None else (op.kind, op.key)))
        modelled = models(run.sync.resources)
        if modelled is None:
            return None
        return self.shared.memory(), modelled, tuple(processes)

    def finish(self) -> None:
        """The schedule ended: record its last transition (its trace stays for
        :meth:`Exhaustive._learnt` until the next schedule begins)."""
        self._close()
