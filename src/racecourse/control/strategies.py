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

import ast
import inspect
import random
from typing import Any, Dict, FrozenSet, Hashable, Iterator, List, Optional, Sequence, Set, Tuple

from .engine import Abandon, Chooser, Controller, Execution, Livelock, RunState, Status, describe_op
from .instrument import ACQUIRE, CHECKPOINT, READ, RELEASE, TRY_ACQUIRE, UPDATE, WRITE, Op
from .schedule import ScheduleError
from .states import SharedState, Visited, models

STRATEGIES = ("exhaustive", "random", "pct")


def replaying(steps: Sequence[int], text: str, rounds: Optional["Rounds"] = None) -> Chooser:
    """Follow ``steps`` exactly; a step that names a process that cannot run is an error.
    With ``rounds`` watching, a schedule that ends where the run went round a loop that
    never ends (how a livelock found by a search is written) replays as that livelock."""

    def choose(run: RunState) -> int:
        position = len(run.schedule)
        if rounds is not None:  # judged only where the schedule ends: the search stopped there
            rounds.watch(run, judge=position >= len(steps))
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
    rounds = Rounds.for_controller(controller)
    execution = controller.run(replaying(steps, text, rounds), watch=watch, states=rounds is not None)
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
    rounds = Rounds.for_controller(controller, only_loops=True)

    def choose(run: RunState) -> int:
        if rounds is not None:
            rounds.watch(run)  # a loop that never ends is a livelock; random choice leaves any other
        return rng.choice(run.enabled)

    for _ in range(budget):
        if rounds is not None:
            rounds.reset()
        yield controller.run(choose, states=rounds is not None)


# -- loops that never end ----------------------------------------------------------------------


def whole_state(shared: SharedState, run: RunState) -> Optional[Hashable]:
    """The whole state of the run at this choice (shared memory, the models of the blocking
    objects, each process's own state and next operation), or None if a part of it cannot
    be told (control.states)."""
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
    return shared.memory(), modelled, tuple(processes)


def went_round(run: RunState, since: int, enabled: Sequence[int]) -> Optional[Livelock]:
    """If every process that can go now went at least once since step ``since``, after
    which the run was in the state it is in now, the story of a livelock: that stretch can
    repeat for ever, every process getting its turn, and nothing changes (a process polls
    for what nobody will do): the Livelock to raise. None if some process that could go sat it out: the loop
    only shows that it did not get its turn, not that it never would."""
    went = set(run.schedule[since:])
    if not went.issuperset(enabled):
        return None
    loop = "; ".join(f"process {process} {describe_op(run.pending[process])}"
                     for process in sorted(went) if process in run.pending) + ", round and round"
    now = len(run.schedule)
    again = f"step {now}" if now == since + 1 else f"steps {since + 1}-{now}"
    return Livelock(loop, f"{loop}: after step {now} everything is as it was after step {since}, "
                          f"so {again} can repeat for ever")


def may_loop(worker: Any) -> bool:
    """Whether the worker's file has a ``while`` loop (or cannot be read): only then can a
    schedule go round for ever, and only then do random and pct schedules pay for watching."""
    try:
        with open(inspect.getsourcefile(worker) or "", encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (OSError, TypeError, SyntaxError, ValueError):
        return True
    return any(isinstance(node, ast.While) for node in ast.walk(tree))


class Rounds:
    """Watches one schedule for the run coming back to a state it was in before. A loop
    round which every process that could go took part in is a livelock (raised); one that
    only some went round is returned, for the strategy to give the others their turn."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared
        self.seen: Dict[Hashable, int] = {}

    @classmethod
    def for_controller(cls, controller: Controller, only_loops: bool = False) -> Optional["Rounds"]:
        """A watcher, or None where the state cannot be told (a queue, a Manager object) or,
        with ``only_loops``, where the worker has no loop to go round."""
        shared = SharedState(controller.found)
        if not shared.cacheable or only_loops and not may_loop(controller.scenario.worker):
            return None
        return cls(shared)

    def reset(self) -> None:
        self.seen.clear()

    def watch(self, run: RunState, judge: bool = True) -> Optional[int]:
        """The step after which the run was first in its present state, or None; with
        ``judge``, raises :class:`Livelock` when the loop since then can go on for ever."""
        state = whole_state(self.shared, run)
        if state is None:
            return None
        before = self.seen.setdefault(state, len(run.schedule))
        if before == len(run.schedule):
            return None
        if judge:
            livelock = went_round(run, before, run.enabled)
            if livelock is not None:
                raise livelock
        return before


class _Priorities:
    """One PCT schedule: the highest-priority runnable process goes; at each change point the
    process about to run drops below every initial priority."""

    def __init__(self, priority: Dict[int, int], changes: Dict[int, int], rounds: Optional["Rounds"]) -> None:
        self.priority = priority
        self.changes = changes
        self.rounds = rounds
        self.lowest = min(priority.values(), default=0)

    def __call__(self, run: RunState) -> int:
        if self.rounds is not None and self.rounds.watch(run) is not None:
            # The run is back where it was: whoever goes round yields to the others (as a
            # polling process yields its CPU), or the highest would poll for ever.
            self.lowest -= 1
            self.priority[run.schedule[-1]] = self.lowest
        chosen = max(run.enabled, key=self.priority.__getitem__)
        step = len(run.schedule) + 1
        if step in self.changes:
            self.priority[chosen] = self.changes[step]
            chosen = max(run.enabled, key=self.priority.__getitem__)
        return chosen


def pct_schedules(controller: Controller, budget: int, seed: int, depth: int) -> Iterator[Execution]:
    rng = random.Random(seed)
    rounds = Rounds.for_controller(controller, only_loops=True)
    length = 1  # the longest schedule seen so far: where change points may fall
    for _ in range(budget):
        # Initial priorities depth .. depth+n-1 (higher runs first); change points get depth-2 .. 0.
        order = list(range(depth, depth + controller.processes))
        rng.shuffle(order)
        points = sorted(rng.sample(range(1, length + 1), min(depth - 1, length)))
        if rounds is not None:
            rounds.reset()
        chooser = _Priorities(dict(enumerate(order)), {step: depth - 2 - n for n, step in enumerate(points)}, rounds)
        execution = controller.run(chooser, states=rounds is not None)
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

    __slots__ = ("enabled", "sleep", "done", "ran", "chosen", "width", "roomy", "state", "step", "skip")

    def __init__(self, enabled: List[int], sleep: Dict[int, Footprint], roomy: FrozenSet[str], step: int) -> None:
        self.enabled = enabled
        self.sleep = sleep
        self.done: List[int] = []
        self.ran: Dict[int, Footprint] = {}
        self.chosen: Optional[int] = None
        self.width = sum(1 for p in enabled if p not in sleep)  # the branches to explore from here
        self.roomy = roomy  # semaphores whose count is at least 2 here: their acquires commute
        self.state: Optional[Hashable] = None  # the run's state here, when it can be told (control.states)
        self.step = step  # the steps run before it
        self.skip: FrozenSet[int] = frozenset()  # processes that would only go round a loop again


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
    ``reduction``) caches states, as the module says. With ``states``, with or without
    ``reduction``, a schedule that comes back to a state on its own path ends there
    (:meth:`_Search._no_endless_round`): without that, a polling loop makes the tree
    of schedules endless."""

    def __init__(self, reduction: bool = False, sections: bool = True, states: bool = True) -> None:
        self.reduction = reduction
        self.sections = reduction and sections
        self.states = reduction and states  # prune schedules that reach a state already explored
        self.loops = states  # end schedules that go round a loop (only read when the worker has one)
        self.visited = Visited()
        self.complete = False
        self.pruned = 0  # executions abandoned because every runnable process was asleep
        self.explored = 0  # complete executions: what the budget counts
        self.restarts = 0  # times the search began again with finer transitions
        self._stack: List[_Node] = []
        self._on_path: Dict[Hashable, List[int]] = {}  # the states of the nodes on the stack, and where
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
        self._on_path.clear()
        self.visited.clear()  # explored with transitions now known to be too coarse
        self.restarts += 1
        return True

    def _leave_path(self, state: Hashable) -> None:
        places = self._on_path[state]
        places.pop()
        if not places:
            del self._on_path[state]

    def _backtrack(self) -> bool:
        """Move to the deepest node with an unexplored choice; False when none is left."""
        stack = self._stack
        while stack:
            node = stack[-1]
            if node.chosen is not None:
                node.done.append(node.chosen)
            remaining = [p for p in node.enabled if p not in node.sleep and p not in node.done and p not in node.skip]
            if remaining:
                node.chosen = remaining[0]
                return True
            stack.pop()
            if node.state is not None:  # its whole subtree is explored, but for what it skipped
                self._leave_path(node.state)
                if self.states:
                    self.visited.explored(node.state, frozenset(node.sleep.items()) | {(p, None) for p in node.skip})
        return False


class _Search:
    """One schedule of an exhaustive search: replays the path of nodes it shares with the
    previous schedule, then opens new nodes, one per transition."""

    def __init__(self, owner: Exhaustive, controller: Controller) -> None:
        self.owner = owner
        self.semaphores = frozenset(controller.known_resources)
        watched = owner.states or owner.loops and may_loop(controller.scenario.worker)
        shared = SharedState(controller.found) if watched else None
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
                node.state = whole_state(self.shared, run)
                if node.state is not None:
                    self._no_endless_round(node, run)
                    if owner.states and owner.visited.covers(node.state, frozenset(node.sleep.items())):
                        stack.pop()
                        raise Abandon()  # explored from this very state before, with no more asleep
                    owner._on_path.setdefault(node.state, []).append(len(stack) - 1)
            choices = [p for p in node.enabled if p not in node.sleep and p not in node.skip]
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
        return _Node(list(run.enabled), sleep, roomy, len(run.schedule))

    def _no_endless_round(self, node: _Node, run: RunState) -> None:
        """A schedule back in a state that a node on its own path was in: it went round a
        loop (a process polling, ``while not ready.wait(0.01)``). If every process that
        can go went round, the loop can go on for ever: a livelock, and the schedule ends.
        Otherwise the processes that went round would only go round again, so they are
        skipped here, and every other process goes from here, asleep or not: a sleep set
        says that an earlier branch covers a process, but on a loop that branch may be
        this very one, and the process would never go at all (the ignoring problem of
        partial-order reduction; the remedy is Valmari's and Peled's cycle proviso: a
        state that closes a cycle is expanded fully). Each time the schedule comes back,
        more processes have gone round, so it ends."""
        owner = self.owner
        places = owner._on_path.get(node.state)
        if not places:
            return
        stack = owner._stack
        since = stack[places[0]].step
        livelock = went_round(run, since, node.enabled)
        if livelock is not None:
            stack.pop()
            raise livelock
        went = frozenset(run.schedule[since:])
        node.skip = went
        node.sleep = {process: footprint for process, footprint in node.sleep.items() if process in went}
        node.width = sum(1 for p in node.enabled if p not in node.sleep and p not in went)

    def finish(self) -> None:
        """The schedule ended: record its last transition (its trace stays for
        :meth:`Exhaustive._learnt` until the next schedule begins)."""
        self._close()
