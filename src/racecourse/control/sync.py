"""What the parent knows, during one schedule, about who may go and what went wrong.

- :class:`SyncState`: the state of every blocking object (today, locks: holder and
  depth), which process's next operation can proceed, and, when none can, the story of
  the deadlock. Each kind of blocking object is a :class:`Resource`: it says whether a
  process's next operation on it can proceed now, what that operation changes, who holds
  it, and why a process waits for it. A new primitive (a semaphore's count, an event, a
  queue that must be non-empty, a condition's notify, a barrier) is one more Resource,
  named in ``RESOURCES`` for the operation kinds that wait on it.
- :class:`LostUpdates`: which writes overwrote an update another process made after this
  process last read the same data.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from .instrument import (
    ACQUIRE,
    ARRIVE,
    BREAK,
    CLEAR,
    GET,
    JOIN,
    LEAVE,
    NOTIFY,
    PASS,
    PUT,
    READ,
    RELEASE,
    SET,
    SLEEP,
    TASK_DONE,
    TIMED_PASS,
    TIMED_WAKE,
    TRY_ACQUIRE,
    TRY_GET,
    TRY_PUT,
    UPDATE,
    WAIT,
    WAKE,
    WRITE,
    Op,
)


class Resource:
    """A blocking object as the parent models it during one schedule."""

    __slots__ = ("key", "label")

    def __init__(self, key: str, label: str) -> None:
        self.key = key
        self.label = label  # how a person reads it: "lock", "the lock of counter"

    def ready(self, process: int, op: Op) -> bool:
        """Whether ``process`` can perform ``op`` (which waits on this object) now."""
        raise NotImplementedError

    def apply(self, process: int, op: Op, value: Any, clock: int) -> None:
        """What ``op``, performed by ``process`` with result ``value``, changed."""

    def held_by(self, process: int) -> Optional[int]:
        """Since when ``process`` holds this object (an ordering number), or None."""
        return None

    def blocker(self, process: int) -> str:
        """Who stands in the way of ``process``: "process 1", "itself" (a non-reentrant
        lock taken twice), "?" when nobody is known to."""
        return "?"

    def waiting_text(self, process: int, op: Optional[Op] = None) -> str:
        """Why ``process`` cannot go on, in the words of ``play``: "held by process 1"."""
        return f"held by process {self.blocker(process)}"

    def story(self, process: int, op: Optional[Op] = None) -> str:
        """Why ``process`` cannot go on, in the words of a deadlock report."""
        return f"waits for {self.label} (held by {self.blocker(process)})"

    def held(self) -> Optional[int]:
        """A process that still holds this object (at the end of a schedule), or None."""
        return None

    def times_out(self, process: int, op: Op) -> bool:
        """Whether the end of a timed wait (TIMED_WAKE, TIMED_PASS), performed now, finds its
        time ran out: nothing it waited for happened by then."""
        return False


class LockResource(Resource):
    """A lock (or an RLock): one holder at a time, re-entered by its holder if reentrant."""

    __slots__ = ("holder", "depth", "since")

    def __init__(self, key: str, label: str) -> None:
        super().__init__(key, label)
        self.holder: Optional[int] = None
        self.depth = 0
        self.since = 0  # when the current holder took it: holdings are listed in that order

    def ready(self, process: int, op: Op) -> bool:
        if op.kind == TRY_ACQUIRE or op.kind == RELEASE:
            return True  # a try never waits in the model; a release gives back what is held
        return self.holder is None or (self.holder == process and op.reentrant)

    def apply(self, process: int, op: Op, value: Any, clock: int) -> None:
        if op.kind == ACQUIRE or (op.kind == TRY_ACQUIRE and value):
            if self.holder is None:
                self.since = clock
            self.holder = process
            self.depth += 1
        elif op.kind == RELEASE and self.depth:
            self.depth -= 1
            if not self.depth:
                self.holder = None

    def held_by(self, process: int) -> Optional[int]:
        return self.since if self.holder == process else None

    def blocker(self, process: int) -> str:
        if self.holder is None:
            return "?"
        return "itself" if self.holder == process else f"process {self.holder}"

    def waiting_text(self, process: int, op: Optional[Op] = None) -> str:
        return f"held by process {'?' if self.holder is None else self.holder}"

    def held(self) -> Optional[int]:
        return self.holder


class SemaphoreResource(Resource):
    """A Semaphore: an acquire waits while the count is zero; a BoundedSemaphore's release
    past its initial value raises ValueError in the worker and changes nothing."""

    __slots__ = ("count", "bound", "takers")

    def __init__(self, key: str, label: str, count: int, bound: Optional[int]) -> None:
        super().__init__(key, label)
        self.count = count
        self.bound = bound  # the initial value of a BoundedSemaphore, None for a Semaphore
        self.takers: List[Tuple[int, int]] = []  # (when, process) of acquires not yet released

    def ready(self, process: int, op: Op) -> bool:
        return op.kind != ACQUIRE or self.count > 0

    def apply(self, process: int, op: Op, value: Any, clock: int) -> None:
        if op.kind == ACQUIRE or (op.kind == TRY_ACQUIRE and value):
            self.count -= 1
            self.takers.append((clock, process))
        elif op.kind == RELEASE and (self.bound is None or self.count < self.bound):
            self.count += 1
            # A semaphore has no owner: any process may release. Who took it is for the
            # deadlock story only: the releaser's own acquire if it has one, else the oldest.
            mine = [entry for entry in self.takers if entry[1] == process]
            if mine or self.takers:
                self.takers.remove(mine[0] if mine else self.takers[0])

    def held_by(self, process: int) -> Optional[int]:
        return next((when for when, taker in self.takers if taker == process), None)

    def blocker(self, process: int) -> str:
        takers = sorted({taker for _, taker in self.takers})
        if not takers:
            return "nobody: its count is 0"
        return ", ".join("itself" if taker == process else f"process {taker}" for taker in takers)

    def waiting_text(self, process: int, op: Optional[Op] = None) -> str:
        return f"count 0, held by {self.blocker(process)}"


class EventResource(Resource):
    """An Event: a wait goes on only once the flag is set. Nobody holds an event; what stands
    in the way of a waiter is that nobody set it, or who cleared it last."""

    __slots__ = ("flag", "cleared_by")

    def __init__(self, key: str, label: str, flag: bool) -> None:
        super().__init__(key, label)
        self.flag = flag
        self.cleared_by: Optional[int] = None

    def ready(self, process: int, op: Op) -> bool:
        return op.kind != WAIT or self.flag

    def apply(self, process: int, op: Op, value: Any, clock: int) -> None:
        if op.kind == SET:
            self.flag = True
        elif op.kind == CLEAR:
            self.flag = False
            self.cleared_by = process

    def _why(self, process: int) -> str:
        if self.cleared_by is None:
            return "never set"
        return f"cleared by {'itself' if self.cleared_by == process else f'process {self.cleared_by}'}"

    def waiting_text(self, process: int, op: Optional[Op] = None) -> str:
        return f"not set: {self._why(process)}"

    def story(self, process: int, op: Optional[Op] = None) -> str:
        return f"waits for {self.label} ({self._why(process)})"


class QueueResource(Resource):
    """A queue: how many items it holds and how many of them still wait for their
    task_done(). A get waits while it is empty, a put while a bounded queue is full, a join
    until no task is unfinished. A try succeeded when its value is not None."""

    __slots__ = ("length", "maxsize", "unfinished")

    def __init__(self, key: str, label: str, length: int, maxsize: int, unfinished: int) -> None:
        super().__init__(key, label)
        self.length = length
        self.maxsize = maxsize  # 0: unbounded
        self.unfinished = unfinished

    def ready(self, process: int, op: Op) -> bool:
        if op.kind == GET:
            return self.length > 0
        if op.kind == PUT:
            return not self.maxsize or self.length < self.maxsize
        if op.kind == JOIN:
            return not self.unfinished
        return True  # a try, a task_done

    def apply(self, process: int, op: Op, value: Any, clock: int) -> None:
        kind = op.kind
        if kind == PUT or (kind == TRY_PUT and value is not None):
            self.length += 1
            self.unfinished += 1
        elif kind == GET or (kind == TRY_GET and value is not None):
            self.length -= 1
        elif kind == TASK_DONE and self.unfinished:  # one too many raises ValueError, changes nothing
            self.unfinished -= 1

    def waiting_text(self, process: int, op: Optional[Op] = None) -> str:
        kind = op.kind if op is not None else GET
        if kind == JOIN:
            return f"{self.unfinished} unfinished task{'s' if self.unfinished != 1 else ''}"
        return f"full ({self.length} item{'s' if self.length != 1 else ''})" if kind == PUT else "empty"

    def story(self, process: int, op: Optional[Op] = None) -> str:
        kind = op.kind if op is not None else GET
        if kind == JOIN:
            return f"waits for the {self.waiting_text(process, op)} of {self.label} (nobody else will call task_done)"
        if kind == PUT:
            return f"waits for room in {self.label}, {self.waiting_text(process, op)} (nobody else will get)"
        return f"waits for {self.label} to be non-empty (nobody else will put)"


class ConditionResource(Resource):
    """A Condition's waiters and the wake-ups its notifies left for them. A notify(n) at a
    moment when w processes wait (and t wake-ups are still untaken) leaves min(n, w - t)
    wake-ups. In a multiprocessing Condition the waiters race for them: any of those w may
    take one, the schedule's choice. In a Manager's (``fifo``: a threading.Condition on its
    server) the notify chooses the longest waiting ones that no wake-up is meant for yet.
    A waiter takes the oldest wake-up open to it (each later notify is open to every
    process an earlier one was).

    A timed wait ends at TIMED_WAKE, which always goes: it takes a wake-up if one is open to
    it, else its time ran out and it still counts as a waiter until its LEAVE, which takes
    (and so loses) a wake-up that a notify left for it in between."""

    __slots__ = ("waiting", "wakeups", "notified", "fifo")

    def __init__(self, key: str, label: str, fifo: bool = False) -> None:
        super().__init__(key, label)
        self.waiting: List[int] = []
        self.wakeups: List[Tuple[Set[int], int]] = []  # per notify: who may take them, how many left
        self.notified = False  # whether any notify happened: for the deadlock story
        self.fifo = fifo

    def ready(self, process: int, op: Op) -> bool:
        return op.kind != WAKE or self._open(process)

    def _open(self, process: int) -> bool:
        return any(process in open_to for open_to, _ in self.wakeups)

    def times_out(self, process: int, op: Op) -> bool:
        return not self._open(process)

    def apply(self, process: int, op: Op, value: Any, clock: int) -> None:
        if op.kind == SLEEP:
            self.waiting.append(process)
        elif op.kind == NOTIFY:
            self.notified = True
            untaken = len(self.waiting) - sum(left for _, left in self.wakeups)
            count = untaken if value is None else min(value, untaken)
            if count > 0 and self.fifo:
                chosen = [waiter for waiter in self.waiting if not self._open(waiter)][:count]
                self.wakeups.extend(({waiter}, 1) for waiter in chosen)
            elif count > 0:
                self.wakeups.append((set(self.waiting), count))
        elif op.kind == WAKE or (op.kind in (TIMED_WAKE, LEAVE) and self._open(process)):
            self.waiting.remove(process)
            taken = next(i for i, (open_to, _) in enumerate(self.wakeups) if process in open_to)
            open_to, left = self.wakeups[taken]
            self.wakeups[taken] = (open_to, left - 1)
            self.wakeups = [(who - {process}, left) for who, left in self.wakeups if left]
        elif op.kind == LEAVE:  # its time ran out and nobody chose it meanwhile
            self.waiting.remove(process)

    def waiting_text(self, process: int, op: Optional[Op] = None) -> str:
        return "not notified"

    def story(self, process: int, op: Optional[Op] = None) -> str:
        others = "nobody else will notify" if self.notified else "never notified"
        return f"waits to be notified on {self.label} ({others})"


class BarrierResource(Resource):
    """A Barrier of ``parties``: who has arrived in the current round, who may pass (their
    round tripped, or the barrier broke), and whether it is broken."""

    __slots__ = ("parties", "arrived", "passing", "broken")

    def __init__(self, key: str, label: str, parties: int) -> None:
        super().__init__(key, label)
        self.parties = parties
        self.arrived: List[int] = []
        self.passing: Set[int] = set()
        self.broken = False

    def ready(self, process: int, op: Op) -> bool:
        if op.kind == ARRIVE:
            # A tripped round drains first: an arrival for the next round waits until every
            # party of the last one has left (threading.Barrier's _enter), unless it broke.
            return self.broken or not self.passing
        return op.kind != PASS or process in self.passing

    def times_out(self, process: int, op: Op) -> bool:
        return process not in self.passing

    def apply(self, process: int, op: Op, value: Any, clock: int) -> None:
        kind = op.kind
        if kind == TIMED_PASS and process not in self.passing:  # its time ran out: it breaks the barrier
            self.arrived.remove(process)
            self.broken = True
            self._release()
            return
        if self.broken or kind in (PASS, TIMED_PASS):
            self.passing.discard(process)
            return
        if kind == ARRIVE:
            self.arrived.append(process)
            if len(self.arrived) == self.parties:
                self._release()
        elif kind == BREAK:
            self.broken = True
            self._release()

    def _release(self) -> None:
        self.passing.update(self.arrived)
        self.arrived = []

    def waiting_text(self, process: int, op: Optional[Op] = None) -> str:
        if op is not None and op.kind == ARRIVE and self.passing and not self.broken:
            return f"the last round still leaving ({len(self.passing)} of {self.parties} to go)"
        return f"{len(self.arrived)} of {self.parties} arrived"

    def story(self, process: int, op: Optional[Op] = None) -> str:
        return f"waits at {self.label}, {self.waiting_text(process, op)} (nobody else will come)"


def _lock_waited_on(op: Op) -> Optional[str]:
    """The lock an operation waits for: the one it takes, or the one its object needs."""
    return op.key if op.kind in (ACQUIRE, TRY_ACQUIRE, RELEASE) else op.needs


# Per kind of operation: which object it waits on (or changes), and how to make the
# model of that object when it is first met (from the operation: its key and label).
RESOURCES: Dict[str, Tuple[Callable[[Op], Optional[str]], Callable[[str, Op], Resource]]] = {}
for _kind in (ACQUIRE, TRY_ACQUIRE, RELEASE):
    RESOURCES[_kind] = (_lock_waited_on, lambda key, op: LockResource(key, op.label))
for _kind in (SET, CLEAR, WAIT):  # made from the start with the flag build left (engine.known_resources)
    RESOURCES[_kind] = (lambda op: op.key, lambda key, op: EventResource(key, op.label, False))
for _kind in (PUT, TRY_PUT, GET, TRY_GET, TASK_DONE, JOIN):  # made from the start (engine.known_resources)
    RESOURCES[_kind] = (lambda op: op.key, lambda key, op: QueueResource(key, op.label, 0, 0, 0))
for _kind in (SLEEP, WAKE, TIMED_WAKE, LEAVE, NOTIFY):  # made from the start (engine.known_resources)
    RESOURCES[_kind] = (lambda op: op.key, lambda key, op: ConditionResource(key, op.label))
for _kind in (ARRIVE, PASS, TIMED_PASS, BREAK):  # made from the start (engine.known_resources)
    RESOURCES[_kind] = (lambda op: op.key, lambda key, op: BarrierResource(key, op.label, 0))
_WITH_LOCK = (_lock_waited_on, lambda key, op: LockResource(key, f"the lock of {op.label}"))


class SyncState:
    """The blocking objects of one schedule, and who can go."""

    __slots__ = ("resources", "clock")

    def __init__(self, known: Optional[Dict[str, Callable[[], Resource]]] = None) -> None:
        # Objects whose model needs what the parent saw at build time (a semaphore's
        # initial count) are made from the start; locks when the schedule first meets them.
        self.resources: Dict[str, Resource] = {key: make() for key, make in (known or {}).items()}
        self.clock = 0

    def _resource(self, op: Op, create: bool) -> Optional[Resource]:
        waited_on, make = RESOURCES.get(op.kind, _WITH_LOCK)
        key = waited_on(op)
        if key is None:
            return None
        resource = self.resources.get(key)
        if resource is None and create:
            resource = self.resources[key] = make(key, op)
        return resource

    def waits_on(self, op: Op) -> Optional[Resource]:
        """The object ``op`` waits on, if the schedule has met it."""
        return self._resource(op, create=False)

    def runnable(self, process: int, op: Op) -> bool:
        """Whether ``process`` can perform its next operation ``op`` now."""
        if op.needs is None and op.kind not in RESOURCES:
            return True  # a read or write of unsynchronized data: the most common case
        resource = self._resource(op, create=False)
        return resource is None or resource.ready(process, op)

    def apply(self, process: int, op: Op, value: Any) -> None:
        """Record that ``process`` performed ``op``, which returned ``value``."""
        if op.kind in RESOURCES:  # reads and writes (even of synchronized data) change no lock
            resource = self._resource(op, create=True)
            assert resource is not None
            self.clock += 1
            resource.apply(process, op, value, self.clock)

    def times_out(self, process: int, op: Op) -> bool:
        """Whether ``op``, the end of a timed wait, finds its time ran out if performed now."""
        resource = self._resource(op, create=False)
        return resource is not None and resource.times_out(process, op)

    def held_by(self, process: int) -> List[Resource]:
        """What ``process`` holds, in the order it took hold of it."""
        held = [(since, resource) for resource in self.resources.values()
                if (since := resource.held_by(process)) is not None]
        return [resource for _, resource in sorted(held, key=lambda pair: pair[0])]

    def waiting_text(self, process: int, op: Op) -> str:
        """Why ``process`` cannot perform ``op`` now: "held by process 1"."""
        resource = self.waits_on(op)
        return resource.waiting_text(process, op) if resource is not None else "held by process ?"

    def deadlock_story(self, pending: Dict[int, Op]) -> str:
        """Who holds and who waits for what, in one sentence per process."""
        parts = []
        for process in sorted(pending):
            op = pending[process]
            held = [resource.label for resource in self.held_by(process)]
            holds = f"holds {', '.join(held)} and " if held else ""
            resource = self.waits_on(op)
            if resource is None:  # waits on nothing the schedule met: cannot be blocked, but say so
                resource = self._resource(op, create=True)
                assert resource is not None
            parts.append(f"process {process} {holds}{resource.story(process, op)}")
        return "; ".join(parts)

    def still_held(self) -> Optional[Tuple[int, str]]:
        """A process that holds something at the end of a schedule, and what, or None
        (the first taken of what is still held)."""
        held = [(resource.held_by(owner), owner, resource.label) for resource in self.resources.values()
                if (owner := resource.held()) is not None]
        if not held:
            return None
        _, owner, label = min(held, key=lambda entry: entry[0] or 0)
        return owner, label


class LostUpdates:
    """Marks the writes that overwrite another process's update made after this process
    last read the same data: the lost update, as it happens."""

    __slots__ = ("counts_updates", "last_read", "last_write")

    def __init__(self, counts_updates: bool) -> None:
        # For a count, a write of the value already there still loses this write's own
        # update (made from a stale read); for other data it changes nothing.
        self.counts_updates = counts_updates
        self.last_read: Dict[Tuple[int, str], int] = {}
        self.last_write: Dict[str, Tuple[int, int, Any]] = {}  # key -> (step number, process, value)

    def note(self, number: int, process: int, op: Op, value: Any) -> Optional[str]:
        """Record step ``number``; the lost update it makes, described, or None."""
        kind, key = op.kind, op.key
        if kind == READ:
            self.last_read[(process, key)] = number
            return None
        if kind != WRITE and kind != UPDATE:
            return None
        lost = None
        if kind == WRITE:
            read_at = self.last_read.get((process, key))
            written = self.last_write.get(key)
            if (read_at is not None and written is not None and written[0] > read_at and written[1] != process
                    and (self.counts_updates or value != written[2])):
                lost = f"overwrites the update process {written[1]} wrote at step {written[0] + 1}"
        self.last_write[key] = (number, process, value)
        return lost
