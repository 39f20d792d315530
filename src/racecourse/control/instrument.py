"""The worker's side of control: shared objects whose every access is a scheduling point.

Inside a controlled worker process, the objects a scenario shares are replaced by thin
wrappers. Before each visible operation (a read or a write of shared data, a lock's
acquire or release, a Manager request, ``racecourse.checkpoint()``) the wrapper tells the
parent what it is about to do and waits until the parent says "go"; then it performs the
real operation on the real object and remembers the value, which travels to the parent
with the next message. ``counter.value += 1`` therefore becomes two points, a read and a
write, exactly the two steps that race.

The scenario's code is unchanged: ``with lock:``, ``counts[key] += 1`` and
``block.buf.cast("i")`` work on the wrappers as on the real objects.
"""

from __future__ import annotations

import ctypes
import multiprocessing.managers as _managers
import multiprocessing.sharedctypes as sharedctypes
import multiprocessing.synchronize as synchronize
import os
import pickle
import queue
import struct
import sys
import threading
from multiprocessing import queues, shared_memory
from multiprocessing.reduction import ForkingPickler
from types import FrameType
from typing import Any, Callable, Dict, Iterator, NamedTuple, Optional, Tuple

from ..errors import RacecourseError

managers: Any = _managers  # the proxy classes are made at run time: typeshed does not know them

# Kinds of visible operation.
READ = "read"
WRITE = "write"
UPDATE = "update"  # one atomic request that reads and writes (a Manager call such as append)
ACQUIRE = "acquire"
TRY_ACQUIRE = "try-acquire"  # acquire(False) or with a timeout: never waits in the model
RELEASE = "release"
CHECKPOINT = "checkpoint"
SET = "set"  # an Event's set()
CLEAR = "clear"  # an Event's clear()
WAIT = "wait"  # an Event's wait() without a timeout: goes on once the event is set
PUT = "put"  # a queue's put(): waits while a bounded queue is full
TRY_PUT = "try-put"  # put_nowait() or put with a timeout: never waits in the model
GET = "get"  # a queue's get(): waits while the queue is empty
TRY_GET = "try-get"  # get_nowait() or get with a timeout: never waits, raises queue.Empty
TASK_DONE = "task-done"  # a JoinableQueue's task_done()
JOIN = "join"  # a JoinableQueue's join(): waits until every item put had its task_done()
SLEEP = "sleep"  # a Condition's wait() begins: the process is a waiter (then releases the lock)
WAKE = "wake"  # ... and goes on once a notify chose it (then re-acquires the lock)
TIMED_WAKE = "timed-wake"  # a timed wait's end: woken if a notify chose it, else its time runs out...
LEAVE = "leave"  # ... and it stops waiting (a notify that chose it meanwhile is lost), then re-acquires the lock
NOTIFY = "notify"  # notify(n) or notify_all(); the value is n, or None for all
ARRIVE = "arrive"  # a Barrier's wait() begins: the last of its parties to arrive trips it
PASS = "pass"  # ... and goes on once the barrier tripped (or broke)
TIMED_PASS = "timed-pass"  # a timed wait's end: passes if the barrier tripped, else its time runs out and it breaks it
BREAK = "break"  # a Barrier's abort()

GO = b"g"
TIME_OUT = b"t"  # go on at a timed wait's end (TIMED_WAKE, TIMED_PASS): its time ran out
ABORT = b"a"
RUN = b"r"
RUN_STATES = b"s"  # run, and report the process's own state with each operation (control.states)
QUIT = b"q"



class Op(NamedTuple):
    """A visible operation a worker is about to perform, as the parent sees it."""

    kind: str  # READ, WRITE, UPDATE, ACQUIRE, TRY_ACQUIRE, RELEASE, CHECKPOINT, or a primitive's own kind
    key: str  # what it touches: the memory, or the lock it takes or gives back
    label: str  # how a person reads it: "counter.value", "lock"
    needs: Optional[str]  # the key of a lock that must be free (or the process's own) to go on
    reentrant: bool  # whether that lock (or the one acquired) may be taken again by its holder


# Tags of the messages a worker sends. On the pipe a message is a plain tuple (a named
# type would pickle its class name with every step): (OP, value of the previous
# operation, *Op, line), (READY, None), (DONE, value), (ABORTED, None), (ERROR, value,
# summary, traceback). The parent reads them into a :class:`Message`. An OP message's
# last field is the line of the worker's file the operation comes from, or None (a
# Controller made with lines=False, as explorations are).
OP = "op"
OP_LINE = 7  # where an OP message's line is: after the tag, the value and Op's five fields
OP_STATE = 8  # then, when asked for (RUN_STATES), the process's own state
READY = "ready"
DONE = "done"
ABORTED = "aborted"
ERROR = "error"


class Message(NamedTuple):
    """One message from a worker, read by the parent."""

    tag: str
    value: Any  # the value of the worker's last operation (what a read returned)
    op: Optional[Op] = None  # OP: the operation it waits to perform
    error: Optional[Tuple[str, str]] = None  # ERROR: (summary, traceback)
    line: Optional[int] = None  # OP: the worker's line it comes from, when asked for

    @classmethod
    def read(cls, raw: Tuple[Any, ...]) -> "Message":
        tag = raw[0]
        if tag == OP:
            return cls(tag, raw[1], Op._make(raw[2:OP_LINE]), line=raw[OP_LINE])
        if tag == ERROR:
            return cls(tag, raw[1], None, (raw[2], raw[3]))
        return cls(tag, raw[1])


class Uncontrollable(RacecourseError):
    """A scenario (or a shared object) that the controlled runner cannot schedule."""


class Aborted(BaseException):
    """Raised inside a worker to unwind it when the parent abandons a schedule
    (a deadlock, an undo, a replay that went elsewhere). A BaseException, so that a
    worker's ``except Exception`` does not swallow it."""


# Messages on a controlled worker's pipe, without ``Connection``'s framing: it reads a
# header and then a body (two system calls, and a third to poll), and a step is a round
# trip, so each system call saved is a share of every schedule (benchmarks/round_trip.py).
# Parent to worker: one command byte. Worker to parent: a 4-byte length and a pickle, in
# one write (a step's message fits a pipe's atomic write, so one read takes it whole).
_LENGTH = struct.Struct("!I")


def write_message(fd: int, message: Tuple[Any, ...]) -> None:
    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def read_message(fd: int) -> Tuple[Any, ...]:
    """The next message on ``fd`` (raises EOFError when the writer is gone)."""
    data = os.read(fd, 65536)
    if len(data) < _LENGTH.size:
        data += _read_exactly(fd, _LENGTH.size - len(data))
    (length,) = _LENGTH.unpack_from(data)
    missing = _LENGTH.size + length - len(data)
    if missing > 0:
        data += _read_exactly(fd, missing)
    message: Tuple[Any, ...] = pickle.loads(memoryview(data)[_LENGTH.size:])
    return message


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError("the other end closed the pipe")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_command(fd: int) -> bytes:
    """The parent's next one-byte command; QUIT if the parent is gone."""
    return os.read(fd, 1) or QUIT


class Channel:
    """The worker's end of the conversation with the controller."""

    __slots__ = ("commands", "messages", "prev", "aborting", "source", "states")

    def __init__(self, commands: int, messages: int) -> None:
        self.commands = commands  # the descriptors of the two one-way pipes
        self.messages = messages
        self.prev: Any = None  # the value of the last operation, sent with the next message
        self.aborting = False
        self.source: Optional[str] = None  # the worker's file: each operation then tells its line there
        self.states: Any = None  # a control.states.LocalStates while the parent asks for states

    def send(self, message: Tuple[Any, ...]) -> None:
        write_message(self.messages, message)

    def point(self, kind: str, key: str, label: str, needs: Optional[str] = None, reentrant: bool = False) -> bool:
        """Wait for the parent's go; True when it says that a timed wait's time ran out."""
        if self.aborting:  # unwinding an abandoned schedule: release what is held, take nothing
            if kind in _TAKES:
                raise Aborted()
            return False
        message: Tuple[Any, ...] = (OP, self.prev, kind, key, label, needs, reentrant, self._line())
        if self.states is not None:  # the process's own state comes last (engine.OP_STATE)
            message += (self.states.state(self.prev, sys._getframe(1)),)
        write_message(self.messages, message)
        self.prev = None
        command = read_command(self.commands)
        if command != GO:
            if command == TIME_OUT:
                return True
            self.aborting = True
            raise Aborted()
        return False

    def _line(self) -> Optional[int]:
        """The line in the worker's file that this operation comes from: the innermost frame
        of that file (the worker, or a helper of its module such as deadlock's transfer());
        racecourse's wrappers are further down. None when not asked for."""
        source = self.source
        if source is None:
            return None
        frame: Optional[FrameType] = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename != source:
            frame = frame.f_back
        return frame.f_lineno if frame is not None else None


# What an unwinding worker must not do: take or wait for anything.
_TAKES = frozenset((ACQUIRE, TRY_ACQUIRE, CHECKPOINT, WAIT, PUT, TRY_PUT, GET, TRY_GET, JOIN, SLEEP, WAKE, TIMED_WAKE,
                    LEAVE, ARRIVE, PASS, TIMED_PASS))

_ACTIVE: Optional[Channel] = None


def activate(channel: Optional[Channel]) -> None:
    global _ACTIVE
    _ACTIVE = channel


def checkpoint(label: str = "checkpoint") -> None:
    """A scheduling point under control; does nothing (and costs a global lookup) outside."""
    channel = _ACTIVE
    if channel is not None:
        channel.point(CHECKPOINT, "checkpoint", label)


# -- identity of locks across processes --------------------------------------------------


def lock_identity(lock: Any) -> Tuple[str, bool]:
    """A key naming the same lock in every process that shares it, and whether it is reentrant.

    A semaphore made under spawn or forkserver is named; under fork it is not, but its
    handle (an address in memory mapped before the fork) is the same in every child. A
    Manager's lock is named by its server and the object's id there.
    """
    if isinstance(lock, managers.BaseProxy):
        token = lock._token
        return f"manager:{token.address}:{token.id}", token.typeid == "RLock"
    semlock = lock._semlock
    name = getattr(semlock, "name", None)
    ident = f"sem:{name}" if name else f"sem@{semlock.handle:x}/{id(lock):x}"
    return ident, isinstance(lock, synchronize.RLock)


def is_lock(value: Any) -> bool:
    if isinstance(value, (synchronize.Lock, synchronize.RLock)):
        return True
    return isinstance(value, managers.AcquirerProxy) and value._token.typeid in ("Lock", "RLock")


def _is_manager_semaphore(value: Any) -> bool:
    return isinstance(value, managers.AcquirerProxy) and value._token.typeid in ("Semaphore", "BoundedSemaphore")


def module_locks(namespace: Dict[str, Any]) -> Dict[str, str]:
    """The locks a worker's module creates at import (``LOCK = Lock()``), by global name."""
    return {name: lock_identity(value)[0] for name, value in namespace.items() if is_lock(value)}


# -- what can be controlled -------------------------------------------------------------

_PLAIN = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset, range)
_UNSUPPORTED = (
    "Pool", "Process", "Connection",
)


# The SyncManager proxies control can schedule: by proxy type and the typeid it was made as.
_SYNC_MANAGER_KINDS = {
    (managers.ValueProxy, "Value"): "manager-value",
    (managers.DictProxy, "dict"): "manager-dict",
    (managers.ListProxy, "list"): "manager-list",
    (managers.NamespaceProxy, "Namespace"): "manager-namespace",
    (managers.ArrayProxy, "Array"): "manager-array",
}


def event_identity(event: Any) -> str:
    """A key naming the same Event in every process: its Manager token, or its flag's semaphore."""
    return lock_identity(event if isinstance(event, managers.BaseProxy) else event._flag)[0]


def queue_identity(queue: Any) -> str:
    """A key naming the same queue in every process: its Manager token, or its read lock's semaphore."""
    return "queue:" + lock_identity(queue if isinstance(queue, managers.BaseProxy) else queue._rlock)[0]


def condition_identity(condition: Any) -> str:
    """A key naming the same Condition in every process (its lock has a key of its own)."""
    if isinstance(condition, managers.BaseProxy):
        return "condition:" + lock_identity(condition)[0]
    return "condition:" + lock_identity(condition._wait_semaphore)[0]


def condition_lock(condition: Any) -> Tuple[Any, str, bool]:
    """The lock a Condition's wait releases: (the object to acquire, its key, reentrant).
    A Manager's Condition made without a lock has an RLock of its own on the server, taken
    through the Condition's proxy; one made over a Manager lock takes that lock."""
    if not isinstance(condition, managers.BaseProxy):
        return (condition._lock, *lock_identity(condition._lock))
    if condition.made_over is not None:
        return (condition.made_over, *lock_identity(condition.made_over))
    return condition, lock_identity(condition)[0], True


def barrier_identity(barrier: Any) -> str:
    """A key naming the same Barrier in every process: its Manager token, or the semaphore of its inner lock."""
    if isinstance(barrier, managers.BaseProxy):
        return "barrier:" + lock_identity(barrier)[0]
    return "barrier:" + lock_identity(barrier._cond._lock)[0]


# What control schedules, for the messages that refuse the rest.
_CONTROLLED = ("Values, Arrays, shared memory, Manager dict/list/Value/Namespace/Array proxies, locks, "
               "semaphores, events, queues, conditions and barriers")
_MANAGER_QUEUES = ("Queue", "JoinableQueue")


def classify(value: Any, name: str) -> str:
    """What kind of shared object ``value`` is, or :class:`Uncontrollable` if it cannot be
    scheduled (something that can block or communicate where racecourse does not look)."""
    if isinstance(value, sharedctypes.SynchronizedArray):
        return "synchronized-array"
    if isinstance(value, sharedctypes.SynchronizedBase):
        return "synchronized-value"
    if isinstance(value, ctypes.Array):
        return "raw-array"
    if isinstance(value, ctypes._SimpleCData):
        return "raw-value"
    if isinstance(value, shared_memory.SharedMemory):
        return "shared-memory"
    if is_lock(value):
        return "lock"
    if isinstance(value, synchronize.Semaphore):  # BoundedSemaphore too
        return "semaphore"
    if isinstance(value, synchronize.Event):
        return "event"
    if isinstance(value, synchronize.Condition):
        return "condition"
    if isinstance(value, synchronize.Barrier):
        return "barrier"
    if isinstance(value, queues.Queue):  # JoinableQueue too
        if getattr(value, "_thread", None) is not None:
            # Its feeder thread would be running when the workers start (fork copies the
            # process, threads and all, from one thread only), and what it still holds is
            # not in the pipe yet: nothing racecourse could snapshot. The thread is stopped
            # here, so that nothing outlives the refusal.
            value.close()
            value.join_thread()
            raise Uncontrollable(
                f"{name} is a Queue that build() put items into, which racecourse cannot reset between "
                "schedules; put them in the workers, or share a SimpleQueue (whose put is immediate)"
            )
        return "queue"
    if isinstance(value, queues.SimpleQueue):
        return "simple-queue"
    if isinstance(value, managers.BaseProxy):
        typeid = value._token.typeid
        if isinstance(value, managers.EventProxy) and typeid == "Event":
            return "event"
        if _is_manager_semaphore(value):
            return "semaphore"
        if typeid in ("Condition", "Barrier"):
            if typeid == "Condition" and hasattr(value, "made_over"):
                return "condition"
            if typeid == "Barrier" and hasattr(value, "arrive"):
                return "barrier"
            # Its server is not share.manager()'s: a Barrier's waits would have to wait in the
            # server to learn their arrival index, and a Condition's lock cannot be asked for.
            raise Uncontrollable(
                f"{name} is a {typeid} of a Manager racecourse did not start, which racecourse cannot schedule "
                f"(its server does not tell {'which lock it waits on' if typeid == 'Condition' else 'arrivals'} "
                f"without waiting): make it with share.manager().{typeid}(...)"
            )
        if typeid in _MANAGER_QUEUES and hasattr(value, "get_nowait"):
            return "manager-queue"
        kind = _SYNC_MANAGER_KINDS.get((type(value), typeid))
        if kind is None:
            # A custom Manager (remote-manager's counter): its workers usually connect and
            # make proxies of their own, which control never sees; refuse it rather than
            # explore schedules in which the shared state never moves.
            raise Uncontrollable(
                f"{name} is a Manager {typeid!r} proxy, which racecourse cannot schedule; control takes "
                "SyncManager dict/list/Value/Namespace/Array proxies, locks, semaphores, events, queues, "
                "conditions and barriers"
            )
        return kind
    if type(value).__name__ in _UNSUPPORTED:
        raise Uncontrollable(
            f"{name} is a {type(value).__name__}, which can wait or communicate where racecourse "
            f"does not look; control schedules {_CONTROLLED}"
        )
    if isinstance(value, _PLAIN):
        return "plain"
    return "copied"  # a plain Python object: each process has its own copy, nothing to schedule


# -- the wrappers ---------------------------------------------------------------------------


class ControlledLock:
    """A Lock, RLock, Manager lock or Semaphore whose acquire and release are scheduling
    points. The parent lets an acquire go only when the real one cannot wait (the lock is
    free, the semaphore's count above zero), so the real acquire here never blocks."""

    def __init__(self, real: Any, key: str, label: str, reentrant: bool, channel: Channel) -> None:
        self._real = real
        self._key = key
        self._label = label
        self._reentrant = reentrant
        self._channel = channel
        self._held = 0  # how many times this process holds it (a Manager's lock does not tell)

    def acquire(self, block: bool = True, timeout: Optional[float] = None) -> bool:
        # A timed acquire is modelled as a try: the parent does not let time pass.
        waits = block and timeout is None
        self._channel.point(ACQUIRE if waits else TRY_ACQUIRE, self._key, self._label, None, self._reentrant)
        got = bool(self._real.acquire(False))
        if waits and not got:
            raise RuntimeError(
                f"racecourse: {self._label} was held by something the controller does not see"
            )
        self._held += got
        self._channel.prev = got
        return got

    def release(self) -> None:
        channel = self._channel
        try:
            channel.point(RELEASE, self._key, self._label, None, self._reentrant)
        except Aborted:  # told to stop right here: the lock is still ours to give back
            self._real.release()
            self._held -= 1
            raise
        if channel.aborting:
            # Unwinding: give it back only if this process holds it. A multiprocessing Lock
            # released by a process that does not hold it, while another does, is released
            # for that other one (and its count goes wrong in this one): a Condition's
            # wait leaves its with block without the lock, while other processes unwind too.
            semlock = getattr(self._real, "_semlock", None)
            if not self._held if semlock is None else not semlock._is_mine():
                return
            try:
                self._real.release()
                self._held -= 1
            except (ValueError, AssertionError, RuntimeError):
                pass  # unwinding: it was not held after all
            return
        self._real.release()
        self._held -= self._held > 0

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<controlled {self._label}>"


class ControlledEvent:
    """An Event (or a Manager's Event): ``set`` and ``clear`` are points, ``is_set`` a read,
    and ``wait()`` a point the parent lets go only once the event is set, so the real
    event is never waited on. ``wait(timeout)`` is modelled as a try: it returns the flag
    as it is, without letting time pass."""

    def __init__(self, real: Any, key: str, label: str, channel: Channel) -> None:
        self._real = real
        self._key = key
        self._label = label
        self._channel = channel

    def is_set(self) -> bool:
        return self._read(f"{self._label}.is_set()")

    def set(self) -> None:
        self._channel.point(SET, self._key, self._label)
        self._real.set()

    def clear(self) -> None:
        self._channel.point(CLEAR, self._key, self._label)
        self._real.clear()

    def wait(self, timeout: Optional[float] = None) -> bool:
        if timeout is not None:
            return self._read(f"{self._label}.wait({timeout!r})")
        self._channel.point(WAIT, self._key, self._label)
        if not self._real.is_set():
            raise RuntimeError(f"racecourse: {self._label} was cleared by something the controller does not see")
        self._channel.prev = True
        return True

    def _read(self, label: str) -> bool:
        self._channel.point(READ, self._key, label)
        result = bool(self._real.is_set())
        self._channel.prev = result
        return result

    def __repr__(self) -> str:
        return f"<controlled {self._label}>"


class ControlledCondition:
    """A Condition (or a Manager's): its lock is a :class:`ControlledLock`; ``wait()`` makes
    the process a waiter (a point), releases the lock (points), goes on once a notify chose it
    (a point the parent lets go only then) and re-acquires the lock (points). ``notify`` and
    ``notify_all`` are points. Which waiters a notify wakes is the parent's to schedule: any
    of them for a multiprocessing Condition, where waiting processes race for the wake-up,
    the longest waiting for a Manager's (a threading.Condition on its server). The real
    condition is never waited on nor notified: the parent's model is its state.

    ``wait(timeout)``'s end is a point that always goes: woken if a notify chose the process
    by then (True), else its time runs out; it then stops waiting at one more point (a notify
    that chose it in between is lost, as with the real primitives) and returns False."""

    def __init__(self, real: Any, key: str, label: str, lock: "ControlledLock", channel: Channel) -> None:
        self._real = real
        self._key = key
        self._label = label
        self._lock = lock
        self._channel = channel
        self._manager = isinstance(real, managers.BaseProxy)

    def acquire(self, block: bool = True, timeout: Optional[float] = None) -> bool:
        return self._lock.acquire(block, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def _owned(self, doing: str) -> int:
        """How many times this process holds the lock; the error the real one raises if not."""
        if self._manager:  # threading.Condition's error, sent back by the server
            if not self._lock._held:
                raise RuntimeError(f"cannot {doing} on un-acquired lock")
            return self._lock._held
        semlock = self._real._lock._semlock
        if not semlock._is_mine():
            raise AssertionError("must acquire() condition before using wait()" if doing == "wait"
                                 else "lock is not owned")
        return int(semlock._count())

    def wait(self, timeout: Optional[float] = None) -> bool:
        depth = self._owned("wait")
        lock, channel = self._lock, self._channel
        shown = f"{self._label}.wait()" if timeout is None else f"{self._label}.wait({timeout!r})"
        channel.point(SLEEP, self._key, shown, lock._key, lock._reentrant)
        for _ in range(depth):
            lock.release()
        if timeout is None:
            channel.point(WAKE, self._key, self._label)
            woken = True
        else:
            woken = not channel.point(TIMED_WAKE, self._key, self._label)
            channel.prev = woken
            if not woken:
                channel.point(LEAVE, self._key, self._label)
        taken = 0
        try:
            for _ in range(depth):
                lock.acquire()
                taken += 1
        except Aborted:  # unwinding: give back what this wait took again
            for _ in range(taken):
                lock._real.release()
                lock._held -= 1
            raise
        return woken

    def wait_for(self, predicate: Callable[[], Any], timeout: Optional[float] = None) -> Any:
        result = predicate()
        while not result:
            woken = self.wait(timeout)
            result = predicate()
            if not woken:
                break  # its time ran out: the real wait_for stops too
        return result

    def notify(self, n: int = 1) -> None:
        self._notify(n, f"{self._label}.notify({n})" if n != 1 else f"{self._label}.notify()")

    def notify_all(self) -> None:
        self._notify(None, f"{self._label}.notify_all()")

    def _notify(self, n: Optional[int], label: str) -> None:
        self._owned("notify")
        self._channel.point(NOTIFY, self._key, label, self._lock._key, self._lock._reentrant)
        self._channel.prev = n  # tells the parent how many it may wake

    def __repr__(self) -> str:
        return f"<controlled {self._label}>"


class ControlledBarrier:
    """A Barrier (or a Manager's): ``wait()`` is a point at which the process arrives (the
    last of the parties to arrive trips the barrier and runs its action) and a point that
    goes on once the barrier tripped; the parent lets it go only then. ``abort()`` is a
    point; waiters at a broken barrier raise BrokenBarrierError, as uncontrolled. A timed
    wait (or a barrier made with a timeout) ends at a point that always goes: it passes if
    the barrier tripped by then, else its time runs out and it breaks the barrier. The
    arrival count lives in the real barrier (shared memory, or the Manager's server:
    ``ScheduledBarrier.arrive``), so each process gets its real index."""

    def __init__(self, real: Any, key: str, label: str, channel: Channel) -> None:
        self._real = real
        self._key = key
        self._label = label
        self._channel = channel
        self._manager = isinstance(real, managers.BaseProxy)
        timeout = real._callmethod("__getattribute__", ("_timeout",)) if self._manager else real._timeout
        self._timed = timeout is not None  # a barrier made with a timeout: every wait is timed

    @property
    def parties(self) -> int:
        return int(self._real.parties)

    @property
    def n_waiting(self) -> int:
        read = (lambda: self._real.n_waiting) if self._manager else (lambda: self._real._count)
        return int(self._read("n_waiting", read))

    @property
    def broken(self) -> bool:
        return bool(self._read("broken", self._is_broken))

    def _is_broken(self) -> bool:
        return bool(self._real.broken) if self._manager else self._real._state == _BROKEN

    def wait(self, timeout: Optional[float] = None) -> int:
        channel = self._channel
        channel.point(ARRIVE, self._key, f"{self._label}.wait()")
        index = self._arrive()
        channel.prev = index
        if timeout is not None or self._timed:
            timed_out = channel.point(TIMED_PASS, self._key, self._label)
            channel.prev = not timed_out
            if timed_out:  # the barrier had not tripped: a real one breaks, for everyone
                self._break()
                raise threading.BrokenBarrierError
        else:
            channel.point(PASS, self._key, self._label)
        if self._is_broken():
            raise threading.BrokenBarrierError
        return index

    def _arrive(self) -> int:
        """Count this arrival in the real barrier (nobody else runs now); the last runs the action."""
        real = self._real
        if self._manager:
            return int(real.arrive())
        with real._cond:  # the barrier's own lock: nobody else runs now, it is free
            if real._state == _BROKEN:
                raise threading.BrokenBarrierError
            index = real._count
            last = index + 1 == real._parties
            real._count = 0 if last else index + 1
        if last and real._action is not None:
            real._action()
        return int(index)

    def _break(self) -> None:
        if self._manager:
            self._real.abort()
            return
        with self._real._cond:
            self._real._state = _BROKEN

    def abort(self) -> None:
        self._channel.point(BREAK, self._key, f"{self._label}.abort()")
        self._break()

    def _read(self, name: str, read: Callable[[], Any]) -> Any:
        self._channel.point(READ, self._key, f"{self._label}.{name}")
        result = read()
        self._channel.prev = result
        return result

    def __repr__(self) -> str:
        return f"<controlled {self._label}>"


_BROKEN = -2  # threading.Barrier's _state when broken


class ControlledQueue:
    """A Queue, JoinableQueue, SimpleQueue or a Manager's Queue: each put, get, task_done and
    join is a point, ``qsize``/``empty``/``full`` reads. The parent models the queue's
    length (and its unfinished tasks) and lets a get go only when an item is there, a put
    only when a bounded queue has room, a join only when every task is done; so the real
    call here never waits. ``get_nowait`` and a get or put with a timeout are tries.

    A put writes the item into the queue's pipe before the worker reports its next
    operation: a real Queue.put hands it to a feeder thread, and then a get right after the
    put might not find it yet, and items from two processes could reach the pipe in either
    order. Under control the outcome must follow from the schedule alone.
    """

    def __init__(self, real: Any, key: str, label: str, channel: Channel) -> None:
        self._real = real
        self._key = key
        self._label = label
        self._channel = channel
        self._manager = isinstance(real, managers.BaseProxy)
        self._simple = isinstance(real, queues.SimpleQueue)

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        waits = block and timeout is None
        channel = self._channel
        channel.point(PUT if waits else TRY_PUT, self._key, self._label)
        if self._manager:
            try:
                self._real.put_nowait(item)
            except queue.Full:
                if waits:
                    raise RuntimeError(f"racecourse: {self._label} is a bounded Manager queue, whose size "
                                       "racecourse cannot see: share.Queue(maxsize) is modelled") from None
                raise
        elif not self._simple and not self._real._sem.acquire(False):
            if waits:
                raise RuntimeError(f"racecourse: {self._label} was filled by something the controller does not see")
            raise queue.Full
        else:
            self._write(item)
        channel.prev = item if waits else (item,)

    def put_nowait(self, item: Any) -> None:
        self.put(item, False)

    def _write(self, item: Any) -> None:
        """Write ``item`` into the pipe now, as SimpleQueue.put does (and count it as a
        JoinableQueue's unfinished task)."""
        real: Any = self._real
        data = bytes(ForkingPickler.dumps(item))
        _check_room(real._writer.fileno(), len(data), self._label)
        with real._wlock:
            real._writer.send_bytes(data)
        unfinished = getattr(real, "_unfinished_tasks", None)  # a JoinableQueue's tasks not yet done
        if unfinished is not None:
            with real._cond:
                unfinished.release()

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        waits = block and timeout is None
        channel = self._channel
        channel.point(GET if waits else TRY_GET, self._key, self._label)
        if self._simple:
            if self._real.empty():
                if waits:
                    raise RuntimeError(f"racecourse: {self._label} was emptied by something the controller "
                                       "does not see")
                raise queue.Empty
            item = self._real.get()
        else:
            try:
                item = self._real.get_nowait()
            except queue.Empty:
                if waits:
                    raise RuntimeError(f"racecourse: {self._label} was emptied by something the controller "
                                       "does not see") from None
                raise
        channel.prev = item if waits else (item,)
        return item

    def get_nowait(self) -> Any:
        return self.get(False)

    def task_done(self) -> None:
        self._joinable("task_done")
        self._channel.point(TASK_DONE, self._key, f"{self._label}.task_done()")
        self._real.task_done()  # raises ValueError when called too many times, as uncontrolled

    def join(self) -> None:
        self._joinable("join")
        self._channel.point(JOIN, self._key, self._label)
        if not self._manager and not self._real._unfinished_tasks._semlock._is_zero():
            raise RuntimeError(f"racecourse: {self._label} got items from something the controller does not see")
        self._real.join()

    def _joinable(self, name: str) -> None:
        if not hasattr(self._real, name):  # a plain Queue: no point, the AttributeError it would raise
            raise AttributeError(f"{type(self._real).__name__!r} object has no attribute {name!r}")

    def qsize(self) -> int:
        return int(self._read("qsize", self._real.qsize))

    def empty(self) -> bool:
        return bool(self._read("empty", self._real.empty))

    def full(self) -> bool:
        return bool(self._read("full", self._real.full))

    def _read(self, name: str, call: Callable[[], Any]) -> Any:
        self._channel.point(READ, self._key, f"{self._label}.{name}()")
        result = call()
        self._channel.prev = result
        return result

    # The pipe stays open for the next schedule: closing is left to racecourse.
    def close(self) -> None:
        pass

    def join_thread(self) -> None:
        pass

    def cancel_join_thread(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<controlled {self._label}>"


def _check_room(fd: int, size: int, label: str) -> None:
    """Refuse a put that would fill the pipe: written at once, it would wait for a get that
    only the parent can allow (a real Queue's feeder thread waits instead). Linux only: the
    size of a pipe and what it holds are read with fcntl and ioctl there."""
    if not sys.platform.startswith("linux"):
        return
    import array
    import fcntl
    import termios

    held = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, held)
    capacity = fcntl.fcntl(fd, getattr(fcntl, "F_GETPIPE_SZ", 1032))
    if held[0] + size + 4 > capacity:  # 4: send_bytes's length header
        raise RuntimeError(
            f"racecourse: {label} would hold more than its pipe's {capacity} bytes; under control each put "
            "writes its item into the pipe at once, so a queue's items must fit in it"
        )


class ControlledValue:
    """``Value``/``RawValue`` (or a Manager's Value): ``.value`` reads and writes are points."""

    def __init__(
        self, obj: Any, label: str, channel: Channel, lock: Optional[ControlledLock] = None, read: Any = None,
        write: Any = None,
    ) -> None:
        self._obj = obj
        self._label = label
        self._channel = channel
        self._lock = lock
        self._needs = lock._key if lock is not None else None
        self._reentrant = lock._reentrant if lock is not None else False
        self._read: Callable[[], Any] = read or (lambda: obj.value)
        self._write: Callable[[Any], None] = write or (lambda v: setattr(obj, "value", v))

    @property
    def value(self) -> Any:
        self._channel.point(READ, self._label, self._label, self._needs, self._reentrant)
        result = self._read()
        self._channel.prev = result
        return result

    @value.setter
    def value(self, new: Any) -> None:
        self._channel.point(WRITE, self._label, self._label, self._needs, self._reentrant)
        self._write(new)
        self._channel.prev = new

    # The Manager ValueProxy spelling.
    def get(self) -> Any:
        return self.value

    def set(self, new: Any) -> None:
        self.value = new

    # The synchronized wrapper's spelling of its lock.
    def get_lock(self) -> ControlledLock:
        if self._lock is None:
            raise AttributeError(f"{self._label} has no lock (it was made with lock=False)")
        return self._lock

    def get_obj(self) -> "ControlledValue":
        return ControlledValue(self._obj, self._label, self._channel, read=self._read, write=self._write)

    def acquire(self, block: bool = True, timeout: Optional[float] = None) -> bool:
        return self.get_lock().acquire(block, timeout)

    def release(self) -> None:
        self.get_lock().release()

    def __enter__(self) -> bool:
        return self.get_lock().acquire()

    def __exit__(self, *exc: object) -> None:
        self.get_lock().release()


class ControlledSequence:
    """``Array``/``RawArray`` or a Manager list/array: each item's read and write is a point;
    a slice is one read or write of the whole sequence."""

    def __init__(self, obj: Any, label: str, channel: Channel, lock: Optional[ControlledLock] = None) -> None:
        self._obj = obj
        self._label = label
        self._channel = channel
        self._lock = lock
        self._needs = lock._key if lock is not None else None
        self._reentrant = lock._reentrant if lock is not None else False

    def _where(self, index: Any) -> str:
        if isinstance(index, slice):
            return self._label
        if isinstance(index, int) and index < 0:
            index += len(self._obj)
        return f"{self._label}[{index}]"

    def __getitem__(self, index: Any) -> Any:
        where = self._where(index)
        self._channel.point(READ, where, where if not isinstance(index, slice) else f"{self._label}[:]",
                            self._needs, self._reentrant)
        result = self._obj[index]
        self._channel.prev = result
        return result

    def __setitem__(self, index: Any, new: Any) -> None:
        where = self._where(index)
        self._channel.point(WRITE, where, where, self._needs, self._reentrant)
        self._obj[index] = new
        self._channel.prev = new

    def __len__(self) -> int:
        return len(self._obj)  # the length of a shared sequence never changes under a worker

    def __iter__(self) -> Iterator[Any]:
        for index in range(len(self)):
            yield self[index]

    def get_lock(self) -> ControlledLock:
        if self._lock is None:
            raise AttributeError(f"{self._label} has no lock (it was made with lock=False)")
        return self._lock

    def get_obj(self) -> "ControlledSequence":
        return ControlledSequence(self._obj, self._label, self._channel)

    def acquire(self, block: bool = True, timeout: Optional[float] = None) -> bool:
        return self.get_lock().acquire(block, timeout)

    def release(self) -> None:
        self.get_lock().release()

    def __enter__(self) -> bool:
        return self.get_lock().acquire()

    def __exit__(self, *exc: object) -> None:
        self.get_lock().release()


class ControlledProxy(ControlledSequence):
    """A Manager dict, list or array proxy. Item access is a point per key; any other
    method (``append``, ``update``, ``keys``...) is one request, so one atomic point."""

    def _where(self, index: Any) -> str:
        if isinstance(self._obj, managers.DictProxy):
            return f"{self._label}[{index!r}]"
        return super()._where(index)

    def __len__(self) -> int:
        self._channel.point(READ, self._label, f"len({self._label})")
        result = len(self._obj)
        self._channel.prev = result
        return result

    def __contains__(self, item: Any) -> bool:
        self._channel.point(READ, self._label, f"{item!r} in {self._label}")
        result = item in self._obj
        self._channel.prev = result
        return result

    def __delitem__(self, index: Any) -> None:
        self._channel.point(UPDATE, self._label, f"del {self._where(index)}")
        del self._obj[index]

    def __iter__(self) -> Iterator[Any]:
        self._channel.point(READ, self._label, f"iter({self._label})")
        items = list(self._obj.keys() if isinstance(self._obj, managers.DictProxy) else self._obj[:])
        return iter(items)

    def get(self, key: Any, default: Any = None) -> Any:
        where = self._where(key)
        self._channel.point(READ, where, where)
        result = self._obj.get(key, default)
        self._channel.prev = result
        return result

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._obj, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        channel, label = self._channel, f"{self._label}.{name}()"

        def request(*args: Any, **kwargs: Any) -> Any:
            channel.point(UPDATE, self._label, label)
            result = attribute(*args, **kwargs)
            channel.prev = result if isinstance(result, _PLAIN) else None
            return result

        return request


class ControlledNamespace:
    """A Manager Namespace: reading and setting each attribute is one request, one point."""

    def __init__(self, proxy: Any, label: str, channel: Channel) -> None:
        object.__setattr__(self, "_rc", (proxy, label, channel))

    def __getattr__(self, name: str) -> Any:
        proxy, label, channel = object.__getattribute__(self, "_rc")
        where = f"{label}.{name}"
        channel.point(READ, where, where)
        result = getattr(proxy, name)
        channel.prev = result
        return result

    def __setattr__(self, name: str, new: Any) -> None:
        proxy, label, channel = object.__getattribute__(self, "_rc")
        where = f"{label}.{name}"
        channel.point(WRITE, where, where)
        setattr(proxy, name, new)
        channel.prev = new

    def __delattr__(self, name: str) -> None:
        proxy, label, channel = object.__getattribute__(self, "_rc")
        where = f"{label}.{name}"
        channel.point(UPDATE, where, f"del {where}")
        delattr(proxy, name)


class ControlledBuffer:
    """``block.buf`` of a SharedMemory block, or a ``cast()`` of it: item reads and writes
    are points, keyed by byte offset so that differently cast views of the same bytes meet."""

    def __init__(self, view: Any, label: str, channel: Channel) -> None:
        self._view: Any = view
        self._label = label
        self._channel = channel

    def cast(self, format: str, *shape: Any) -> "ControlledBuffer":  # noqa: A002 - memoryview's name
        return ControlledBuffer(self._view.cast(format, *shape), self._label, self._channel)

    def _where(self, index: Any) -> Tuple[str, str]:
        if isinstance(index, slice):
            return self._label, f"{self._label}[{index.start or 0}:{'' if index.stop is None else index.stop}]"
        if index < 0:
            index += len(self._view)
        return f"{self._label}@{index * self._view.itemsize}", f"{self._label}[{index}]"

    def __getitem__(self, index: Any) -> Any:
        key, label = self._where(index)
        self._channel.point(READ, key, label)
        result = self._view[index]
        if isinstance(result, memoryview):
            result = result.tobytes()  # a copy: later reads of the slice would be invisible
        self._channel.prev = result
        return result

    def __setitem__(self, index: Any, new: Any) -> None:
        key, label = self._where(index)
        self._channel.point(WRITE, key, label)
        self._view[index] = new
        self._channel.prev = new

    def __len__(self) -> int:
        return len(self._view)

    def release(self) -> None:
        self._view.release()

    def __enter__(self) -> "ControlledBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)  # format, itemsize, nbytes, tobytes...


class ControlledSharedMemory:
    """A SharedMemory block whose ``buf`` is a :class:`ControlledBuffer`."""

    def __init__(self, block: shared_memory.SharedMemory, label: str, channel: Channel) -> None:
        self._block = block
        self._label = label
        self._channel = channel

    @property
    def buf(self) -> ControlledBuffer:
        buf = self._block.buf
        assert buf is not None, "the block was closed"
        return ControlledBuffer(buf, self._label, self._channel)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._block, name)  # name, size, close...


def _lock(real: Any, label: str, channel: Channel, locks: Dict[str, ControlledLock]) -> ControlledLock:
    """One wrapper per real lock, whichever path reaches it (``lock``, ``counter.get_lock()``)."""
    key, reentrant = lock_identity(real)
    if key not in locks:
        locks[key] = ControlledLock(real, key, label, reentrant, channel)
    return locks[key]


def instrument(value: Any, name: str, channel: Channel, locks: Dict[str, ControlledLock]) -> Any:
    """The controlled stand-in for one shared object (plain objects pass through)."""
    kind = classify(value, name)
    if kind == "synchronized-value":
        lock = _lock(value.get_lock(), f"{name}.lock", channel, locks)
        return ControlledValue(value.get_obj(), name, channel, lock)
    if kind == "synchronized-array":
        lock = _lock(value.get_lock(), f"{name}.lock", channel, locks)
        return ControlledSequence(value.get_obj(), name, channel, lock)
    if kind == "raw-value":
        return ControlledValue(value, name, channel)
    if kind == "raw-array":
        return ControlledSequence(value, name, channel)
    if kind == "shared-memory":
        return ControlledSharedMemory(value, name, channel)
    if kind == "lock" or kind == "semaphore":  # the same two points; the parent models the count
        return _lock(value, name, channel, locks)
    if kind == "event":
        return ControlledEvent(value, event_identity(value), name, channel)
    if kind in ("queue", "simple-queue", "manager-queue"):
        return ControlledQueue(value, queue_identity(value), name, channel)
    if kind == "barrier":
        return ControlledBarrier(value, barrier_identity(value), name, channel)
    if kind == "condition":
        real, key, reentrant = condition_lock(value)
        if key not in locks:
            locks[key] = ControlledLock(real, key, f"{name}.lock", reentrant, channel)
        return ControlledCondition(value, condition_identity(value), name, locks[key], channel)
    if kind == "manager-value":
        return ControlledValue(value, name, channel, read=value.get, write=value.set)
    if kind in ("manager-dict", "manager-list", "manager-array"):
        return ControlledProxy(value, name, channel)
    if kind == "manager-namespace":
        return ControlledNamespace(value, name, channel)
    return value


def instrument_module_locks(
    namespace: Dict[str, Any], parents: Dict[str, str], channel: Channel, locks: Dict[str, ControlledLock]
) -> None:
    """Wrap the locks the worker's module made at import, in this process's copy of the module.

    Under fork the child holds the parent's very lock (same identity as the parent saw it):
    one shared lock. Under spawn and forkserver the child imported the module afresh and
    made a lock of its own; its identity differs from the parent's, and the controller is
    told that it is private to this process, which is exactly what it is.
    """
    for name, value in list(namespace.items()):
        if not is_lock(value):
            continue
        key, reentrant = lock_identity(value)
        label = name
        if parents.get(name) != key:
            key = f"{key}@pid{os.getpid()}"  # this process's own lock: nobody else can hold it
            label = f"{name} (own copy)"
        if key not in locks:
            locks[key] = ControlledLock(value, key, label, reentrant, channel)
        namespace[name] = locks[key]
