"""The controller: real worker processes, one visible operation at a time.

The parent builds the scenario's shared state once and starts N worker processes once.
For each schedule it restores the shared state to what ``build`` made, tells every worker
to run, and then lets exactly one process at a time perform its next visible operation
(see ``instrument``), chosen by a strategy. Workers stay alive between schedules, so
exploring costs operations, not process starts.

The parent models lock state: a process whose next operation acquires a lock that
another process holds (or that needs the lock of a synchronized object held elsewhere)
cannot run. When unfinished processes remain and none can run, that is a deadlock: the
parent reports who holds and who waits for what, then unwinds the workers (an
``Aborted`` exception inside each, releasing what they hold) to start the next schedule.
"""

from __future__ import annotations

import ctypes
import enum
import functools
import multiprocessing.synchronize as synchronize
import os
import select
import traceback
from queue import Empty
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple

from ..catalogue import worker_in_child
from ..child_signals import leave_signals_to_parent
from ..errors import RacecourseError
from ..model import Expect, Scenario, Shared, bound_call, call_with, check_importable_worker
from ..sharing import Share, is_proxy, semaphore_bound, semaphore_count, set_semaphore_count, startup_allowance, stop_processes
from ..verdicts import raises_documented
from ..workers import WorkerGroup
from .instrument import (
    ABORT,
    ACQUIRE,
    ARRIVE,
    BREAK,
    CLEAR,
    DONE,
    GET,
    GO,
    JOIN,
    LEAVE,
    NOTIFY,
    OP,
    OP_LINE,
    OP_STATE,
    PASS,
    PUT,
    QUIT,
    READ,
    RELEASE,
    RUN,
    RUN_STATES,
    SET,
    SLEEP,
    TASK_DONE,
    TIME_OUT,
    TIMED_PASS,
    TIMED_WAKE,
    TRY_ACQUIRE,
    TRY_GET,
    TRY_PUT,
    UPDATE,
    WAIT,
    WAKE,
    WRITE,
    Aborted,
    ControlledLock,
    Message,
    Op,
    Uncontrollable,
    activate,
    barrier_identity,
    condition_identity,
    event_identity,
    instrument_module_locks,
    lock_identity,
    module_locks,
    queue_identity,
    read_command,
    read_message,
)
from .placement import Placement, place
from .reach import Found, channel_for, find, instrument_found, refuse_module_globals, walk
from .schedule import format_schedule
from .sync import (
    RESOURCES,
    BarrierResource,
    ConditionResource,
    EventResource,
    LostUpdates,
    QueueResource,
    Resource,
    SemaphoreResource,
    SyncState,
)

_new_op = tuple.__new__  # Op._make without its checks: a message's tail is an Op's fields
_TIMED = frozenset((TIMED_WAKE, TIMED_PASS))  # the ends of timed waits: the go tells whether time ran out

# The longest schedule a run may take. Strategies end a schedule that goes round a loop
# where they can tell the run's state (strategies.Rounds); where they cannot, a poll that
# nobody answers would go on for ever, so the run stops here and says why. Far above any
# loop-free run's length (16 processes x 100 ops of the catalogue take at most ~10,000).
MAX_STEPS = 100_000


class ControlError(RacecourseError):
    """The controlled run itself broke: a worker died, hung outside any visible operation,
    or left the shared state in a form racecourse cannot reset."""


class Abandon(Exception):
    """Raised by a chooser to give up the current schedule (the workers are unwound)."""


class Livelock(Exception):
    """Raised by a chooser that saw the run come back to a state it was in before, every
    process that could go having gone round in between: the schedule can go on forever
    (a polling loop whose condition nobody will make true). ``loop`` says who goes round
    doing what (the same for every schedule caught in that loop), ``story`` also where;
    the workers are unwound."""

    def __init__(self, loop: str, story: str) -> None:
        super().__init__(story)
        self.loop = loop
        self.story = story


# -- the worker process -----------------------------------------------------------------


def _child_main(target: Any, shared: Shared, index: int, processes: int, ops: int, pipes: Tuple[Any, Any],
                parent_locks: Dict[str, str], lines: bool = False, bookkeeping: FrozenSet[str] = frozenset()) -> None:
    """One controlled worker: wraps its shared objects once, then runs the worker each time
    the parent says so, until told to quit (module-level so that spawn can import it).
    ``lines``: each operation also tells the line of the worker's file it comes from;
    ``bookkeeping``: the labels of the shared objects whose operations are no scheduling points."""
    leave_signals_to_parent(die_with_parent=True)
    commands, messages = pipes  # referenced until the end: these Connections own the descriptors
    channel = channel_for(commands.fileno(), messages.fileno(), bookkeeping)
    try:
        worker = worker_in_child(target)
        locks: Dict[str, ControlledLock] = {}
        arguments = instrument_found(shared, bookkeeping, channel, locks)
        instrument_module_locks(worker.__globals__, parent_locks, channel, locks)
        arguments.update(ops=ops, index=index, processes=processes)
        run_worker = bound_call(worker, arguments)  # the signature is read once, not per schedule
        code = getattr(worker, "__code__", None)
        channel.source = code.co_filename if lines and code is not None else None
        activate(channel)
        channel.send(("ready", None))
    except BaseException as error:
        channel.send(("error", None, f"{type(error).__name__}: {error}", traceback.format_exc()))
        return
    local_states = None
    while True:
        command = read_command(channel.commands)
        if command not in (RUN, RUN_STATES):
            break
        if command == RUN_STATES and local_states is None:
            from .states import LocalStates, kept_as_bookkeeping  # only explorations that cache states need it

            local_states = LocalStates(getattr(worker, "__code__", None), kept_as_bookkeeping(arguments, bookkeeping))
        channel.states = local_states if command == RUN_STATES else None
        if local_states is not None:
            local_states.reset()
        channel.prev = None
        channel.aborting = False
        try:
            run_worker()
        except Aborted:
            channel.send(("aborted", None))
            continue
        except BaseException as error:  # the worker raised: report it, stay ready for the next schedule
            channel.send(("error", channel.prev, f"{type(error).__name__}: {error}", traceback.format_exc()))
            continue
        channel.send(("done", channel.prev))
    commands.close()
    messages.close()


# -- resetting the shared state between schedules ------------------------------------------


class _Snapshot:
    """The shared state as ``build`` made it, and how to put it back."""

    def __init__(self, found: List[Found]) -> None:
        self.restorers: List[Callable[[], None]] = []
        for _label, value, kind, _ in found:
            if kind in ("synchronized-value", "synchronized-array", "raw-value", "raw-array"):
                raw = value.get_obj() if kind.startswith("synchronized") else value
                self.restorers.append(_restore_memory(ctypes.addressof(raw), ctypes.string_at(
                    ctypes.addressof(raw), ctypes.sizeof(raw))))
            elif kind == "shared-memory":
                self.restorers.append(_restore_block(value, bytes(value.buf)))
            elif kind == "manager-value":
                self.restorers.append(_restore_call(value.set, value.get()))
            elif kind == "manager-dict":
                self.restorers.append(_restore_dict(value, value.copy()))
            elif kind in ("manager-list", "manager-array"):
                self.restorers.append(_restore_slice(value, value[:]))
            elif kind == "manager-namespace":
                self.restorers.append(_restore_namespace(value, value._callmethod("__getattribute__", ("__dict__",))))
            elif kind == "semaphore":
                self.restorers.append(_restore_count(value, semaphore_count(value)))
            elif kind == "event":
                self.restorers.append(value.set if value.is_set() else value.clear)
            elif kind == "barrier":
                self.restorers.append(functools.partial(_restore_barrier, value))
            elif kind in ("queue", "simple-queue", "manager-queue"):
                self.restorers.append(_restore_queue(value, kind, queue_contents(value, kind)))

    def restore(self) -> None:
        for restore in self.restorers:
            restore()


def _restore_memory(address: int, saved: bytes) -> Callable[[], None]:
    def restore() -> None:
        ctypes.memmove(address, saved, len(saved))
    return restore


def _restore_count(semaphore: Any, saved: int) -> Callable[[], None]:
    return functools.partial(set_semaphore_count, semaphore, saved)


def _restore_barrier(barrier: Any) -> None:
    """Nobody arrived, not broken (its state and count live in shared memory)."""
    if is_proxy(barrier):
        barrier.restart()  # share.manager()'s ScheduledBarrier, on its server
        return
    barrier._state = 0
    barrier._count = 0


def _drain(queue: Any, kind: str) -> List[Any]:
    """Take every item out of a queue (each is in its pipe, or in its Manager's server)."""
    items = []
    if kind == "simple-queue":
        while not queue.empty():
            items.append(queue.get())
        return items
    while True:
        try:
            items.append(queue.get_nowait())
        except Empty:
            return items


def queue_contents(queue: Any, kind: str) -> List[Any]:
    """What a queue holds as build left it (a Queue's is empty: classify refuses one that
    build put items into); the items are put back."""
    if kind == "queue":
        return []
    items = _drain(queue, kind)
    for item in items:
        queue.put(item)
    return items


def _restore_queue(queue: Any, kind: str, saved: List[Any]) -> Callable[[], None]:
    unfinished = getattr(queue, "_unfinished_tasks", None)  # a JoinableQueue's count of tasks not done
    restore_unfinished = _restore_count(unfinished, unfinished.get_value()) if unfinished is not None else None

    def restore() -> None:
        _drain(queue, kind)
        if restore_unfinished is not None:
            restore_unfinished()
        if kind == "manager-queue":  # its unfinished tasks back to none, then the saved items' own
            try:
                while True:
                    queue.task_done()
            except ValueError:
                pass
        for item in saved:
            queue.put(item)
    return restore


def _semaphores(found: List[Found]) -> Dict[str, Callable[[], Resource]]:
    """The parent's model of each semaphore, as build made it (its count now is its initial one),
    and of each event, queue, condition and barrier (:func:`_primitive_model`)."""
    made: Dict[str, Callable[[], Resource]] = {}
    for name, value, kind, bookkeeping in found:
        if bookkeeping:
            continue  # its operations are no scheduling points: the parent models nothing
        if kind == "semaphore":
            made[lock_identity(value)[0]] = functools.partial(
                SemaphoreResource, lock_identity(value)[0], name, semaphore_count(value), semaphore_bound(value))
        else:
            made.update(_primitive_model(name, value, kind))
    return made


def _primitive_model(name: str, value: Any, kind: str) -> Dict[str, Callable[[], Resource]]:
    """The parent's model of one event, queue, condition or barrier as build made it (its
    flag or length now is its initial one), by its key; nothing for other objects."""
    if kind in ("queue", "simple-queue", "manager-queue"):
        key, length = queue_identity(value), len(queue_contents(value, kind))
        unfinished = getattr(value, "_unfinished_tasks", None)  # a JoinableQueue's tasks not done
        maxsize = getattr(value, "_maxsize", 0)
        # What Queue() takes for "no bound", and a Manager's queue.Queue (share.manager() keeps its maxsize).
        unbounded = maxsize <= 0 or maxsize >= vars(synchronize)["SEM_VALUE_MAX"]
        if kind == "manager-queue":
            tasks = length  # not visible through the proxy: the restore leaves one per item
        else:
            tasks = unfinished.get_value() if unfinished is not None else 0
        return {key: functools.partial(QueueResource, key, name, length, 0 if unbounded else maxsize, tasks)}
    if kind == "event":
        key = event_identity(value)
        return {key: functools.partial(EventResource, key, name, bool(value.is_set()))}
    if kind == "condition":
        key = condition_identity(value)
        fifo = is_proxy(value)  # a threading.Condition on the server wakes the longest waiting
        return {key: functools.partial(ConditionResource, key, name, fifo)}
    if kind == "barrier":
        key = barrier_identity(value)
        return {key: functools.partial(BarrierResource, key, name, value.parties)}
    return {}


def _restore_block(block: Any, saved: bytes) -> Callable[[], None]:
    def restore() -> None:
        block.buf[: len(saved)] = saved
    return restore


def _restore_call(setter: Callable[[Any], Any], saved: Any) -> Callable[[], None]:
    def restore() -> None:
        setter(saved)
    return restore


def _restore_dict(proxy: Any, saved: Dict[Any, Any]) -> Callable[[], None]:
    def restore() -> None:
        proxy.clear()
        proxy.update(saved)
    return restore


def _restore_slice(proxy: Any, saved: Any) -> Callable[[], None]:
    def restore() -> None:
        if len(proxy) != len(saved):
            proxy[:] = []
        proxy[:] = saved
    return restore


def _restore_namespace(proxy: Any, saved: Dict[str, Any]) -> Callable[[], None]:
    def restore() -> None:
        now = proxy._callmethod("__getattribute__", ("__dict__",))
        for name in set(now) - set(saved):
            delattr(proxy, name)
        for name, value in saved.items():
            setattr(proxy, name, value)
    return restore


def _peek_view(value: Any, kind: str, label: str, bookkeeping: bool) -> Any:
    """What observe and check get for a shared object: a synchronized one without its lock."""
    return _Peek(value.get_obj()) if kind.startswith("synchronized") else value


class _Peek:
    """A synchronized Value or Array seen without its lock, so that the parent can read the
    state between two steps while a worker holds that lock (memory is quiet: no worker runs)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @property
    def value(self) -> Any:
        return self._raw.value

    def get_obj(self) -> Any:
        return self._raw

    def __getitem__(self, index: Any) -> Any:
        return self._raw[index]

    def __len__(self) -> int:
        return len(self._raw)

    def __iter__(self) -> Any:
        return iter(self._raw)

    def get_lock(self) -> "_NoLock":
        return _NO_LOCK  # observe code that locks (a user's class reading under its lock) runs as is


class _NoLock:
    """The lock of a :class:`_Peek`: nothing to wait for while no worker runs."""

    def acquire(self, block: bool = True, timeout: Optional[float] = None) -> bool:
        return True

    def release(self) -> None:
        pass

    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc: object) -> None:
        pass


_NO_LOCK = _NoLock()


# -- one schedule ------------------------------------------------------------------------------


class Step:
    """One visible operation as it happened."""

    __slots__ = ("process", "kind", "key", "label", "value", "lost", "state", "line")

    def __init__(self, process: int, kind: str, key: str, label: str, value: Any, line: Optional[int] = None) -> None:
        self.process = process
        self.kind = kind
        self.key = key
        self.label = label
        self.value = value
        self.lost: Optional[str] = None  # set on a write that overwrote another process's update
        self.state: Optional[str] = None  # the shared state after the step (replay and play)
        self.line = line  # the line of the worker's file it ran from (a Controller made with lines=True)

    def describe(self) -> str:
        kind, label, value = self.kind, self.label, self.value
        if kind == READ:
            return f"read {label} -> {value!r}"
        if kind == WRITE:
            return f"write {label} <- {value!r}"
        if kind == TRY_ACQUIRE:
            return f"try {label}: {'got it' if value else 'busy'}"
        if kind == UPDATE:
            return label if value is None else f"{label} -> {value!r}"
        if kind in (ACQUIRE, RELEASE):
            return f"{kind} {label}"
        primitive = _PRIMITIVE_STEPS.get(kind)
        return primitive(label, value) if primitive is not None else f"checkpoint {label}"

    def to_json(self, number: int) -> Dict[str, Any]:
        value = self.value if isinstance(self.value, (int, float, str, bool, type(None))) else repr(self.value)
        return {"step": number, "process": self.process, "op": self.kind, "target": self.label,
                "value": value, "state": self.state, "lost": self.lost}


def describe_op(op: Op) -> str:
    kind, label = op.kind, op.label
    if kind in (READ, WRITE, ACQUIRE, RELEASE):
        return f"{kind} {label}"
    if kind == TRY_ACQUIRE:
        return f"try to acquire {label}"
    if kind == UPDATE:
        return label
    return _PRIMITIVE_OPS.get(kind, "checkpoint {label}").format(label=label)


def _tried(what: str, failed: str) -> Callable[[str, Any], str]:
    """How a try on a queue reads: its value is the item in a 1-tuple, or None if it failed."""
    return lambda label, value: f"{what} {label}: {failed}" if value is None else f"{what} {label} -> {value[0]!r}"


# How a step and a pending operation of a primitive read, by kind.
_PRIMITIVE_STEPS: Dict[str, Callable[[str, Any], str]] = {
    SET: lambda label, value: f"set {label}",
    CLEAR: lambda label, value: f"clear {label}",
    WAIT: lambda label, value: f"wait for {label}: set",
    PUT: lambda label, value: f"put {label} <- {value!r}",
    TRY_PUT: lambda label, value: f"try put {label}: full" if value is None else f"try put {label} <- {value[0]!r}",
    GET: lambda label, value: f"get {label} -> {value!r}",
    TRY_GET: _tried("try get", "empty"),
    TASK_DONE: lambda label, value: label,
    JOIN: lambda label, value: f"join {label}: every task done",
    SLEEP: lambda label, value: label,
    WAKE: lambda label, value: f"woken on {label}",
    TIMED_WAKE: lambda label, value: f"woken on {label}" if value else f"time ran out waiting on {label}",
    LEAVE: lambda label, value: f"stop waiting on {label}",
    NOTIFY: lambda label, value: label,
    ARRIVE: lambda label, value: f"{label} -> arrived {value}",
    PASS: lambda label, value: f"pass {label}",
    TIMED_PASS: lambda label, value: f"pass {label}" if value else f"time ran out at {label}: broken",
    BREAK: lambda label, value: label,
}
_PRIMITIVE_OPS = {SET: "set {label}", CLEAR: "clear {label}", WAIT: "wait for {label}", PUT: "put into {label}",
                  TRY_PUT: "try to put into {label}", GET: "get from {label}", TRY_GET: "try to get from {label}",
                  TASK_DONE: "{label}", JOIN: "join {label}", SLEEP: "{label}", WAKE: "wait to be notified on {label}",
                  TIMED_WAKE: "wait to be notified on {label} (timed)", LEAVE: "stop waiting on {label}",
                  NOTIFY: "{label}", ARRIVE: "{label}", PASS: "pass {label}", TIMED_PASS: "pass {label} (timed)",
                  BREAK: "{label}"}


class RunState:
    """What a strategy sees when it chooses the next process: the schedule so far, each
    unfinished process's next operation (``pending``), who can go (``enabled``), and the
    state of the blocking objects (``sync``: who holds what, why a process waits)."""

    __slots__ = ("schedule", "steps", "pending", "enabled", "controller", "sync", "lost_updates", "lines", "states")

    def __init__(self, controller: "Controller") -> None:
        self.controller = controller
        self.schedule: List[int] = []
        self.steps: List[Step] = []
        self.pending: Dict[int, Op] = {}
        self.enabled: List[int] = []
        self.sync = SyncState(controller.known_resources)
        self.lost_updates = LostUpdates(controller.scenario.counts_updates)
        # The line of the worker's file each pending operation comes from (Controller(lines=True)).
        self.lines: Dict[int, Optional[int]] = {}
        # Each process's own state (Controller.run(states=True)): what its worker reported
        # with its pending operation, or its result once it finished (control.states).
        self.states: Dict[int, Any] = {}


class Status(enum.Enum):
    """How a schedule ended."""

    DONE = "done"  # every process finished (or raised)
    DEADLOCK = "deadlock"  # unfinished processes remained and none could go on
    LIVELOCK = "livelock"  # processes could go on, but only round a loop that never ends
    ABANDONED = "abandoned"  # the strategy gave it up (every order from there was covered)


Chooser = Callable[[RunState], int]


class Execution:
    """One schedule run to its end: what happened, and whether the result was right."""

    def __init__(self, controller: "Controller", run: RunState) -> None:
        self.processes = controller.processes
        self.ops = controller.ops
        self.start_method = controller.start_method
        self.schedule: List[int] = run.schedule
        self.steps: List[Step] = run.steps
        self.status = Status.DONE
        self.deadlock: Optional[str] = None
        self.livelock: Optional[str] = None  # who goes round and round, and where, for Status.LIVELOCK
        self.loop: Optional[str] = None  # who goes round doing what (Livelock.loop)
        self.errors: Dict[int, Tuple[str, str]] = {}  # process -> (summary, traceback)
        self.expected: Optional[int] = None
        self.observed: Optional[int] = None
        self.violation: Optional[str] = None
        self.outcome = ""
        self.correct = False

    @property
    def schedule_text(self) -> str:
        return format_schedule(self.schedule)

    @property
    def sized_schedule(self) -> str:
        return format_schedule(self.schedule, self.processes, self.ops)

    @property
    def lost(self) -> Optional[int]:
        if self.expected is None or self.observed is None:
            return None
        return self.expected - self.observed

    @property
    def lost_updates(self) -> List[Step]:
        return [step for step in self.steps if step.lost]


class Controller:
    """N controlled worker processes for one scenario at one size, reused for every schedule.

    Use as a context manager; :meth:`close` stops the workers and tears the state down.
    """

    def __init__(self, scenario: Scenario, processes: int = 2, ops: int = 1, start_method: Optional[str] = None,
                 timeout: float = 10.0, lines: bool = False) -> None:
        refuse_uncontrollable(scenario)
        assert scenario.worker is not None
        self.scenario = scenario
        self.processes = processes
        self.ops = ops
        self.timeout = timeout
        self.max_steps = MAX_STEPS
        self.lines = lines  # each operation carries its line in the worker (play shows the code)
        self.share = Share(start_method)
        self.start_method = self.share.start_method
        check_importable_worker(scenario, self.start_method)  # before build() makes anything
        self.workers: List[Any] = []
        # Per worker, two one-way pipes (os.pipe: cheaper per message than a duplex Pipe's
        # socket pair): messages from it (self.conns) and commands to it (self.commands).
        self.conns: List[Any] = []
        self.commands: List[Any] = []
        self._command_fds: List[int] = []
        self._pollers: Optional[List[Any]] = [] if hasattr(select, "poll") else None
        self.expected = scenario.expected(processes, ops) if scenario.is_counter else None
        self.executions = 0
        self.known_resources: Dict[str, Callable[[], Resource]] = {}
        self.found: List[Found] = []
        # observe(peek) and check(peek) with their arguments bound on first use: they run
        # once per schedule, and reading a signature costs more than a short schedule's step.
        self._bound: Dict[str, Callable[[], Any]] = {}
        self.placement = Placement()  # one CPU for the run, chosen once the workers are up
        try:
            self.shared = call_with(scenario.build, {"share": self.share, "processes": processes, "ops": ops})
            # Every shared object, however deep build put it; refused before any worker starts.
            found = find(self.shared, self.share.marked_bookkeeping())
            parent_locks = module_locks(scenario.worker.__globals__)
            if all(item.bookkeeping for item in found) and not parent_locks:
                marked = " (only bookkeeping, marked share.bookkeeping(...))" if found else ""
                raise Uncontrollable(
                    f"{scenario.id} shares nothing that racecourse can see{marked} (build() returned "
                    f"{', '.join(sorted(self.shared)) or 'no objects'} and no Value, Array, shared memory, "
                    "Manager proxy or lock, there or inside them): there is no interleaving to control"
                )
            self.snapshot = _Snapshot(found)
            self.found = found  # what state caching reads (control.states.SharedState)
            self.known_resources = _semaphores(found)
            self.peek = walk(self.shared, _peek_view)  # copies of the containers: the workers get the originals
            self._bookkeeping = frozenset(item.label for item in found if item.bookkeeping)
            self._start(parent_locks)
        except BaseException:
            self.close()
            raise

    # -- processes ---------------------------------------------------------------------

    def _start(self, parent_locks: Dict[str, str]) -> None:
        # The group's lists are the controller's own: close() stops whatever started.
        group = WorkerGroup(self.share, f"racecourse-control-{self.scenario.id}", commands=True)
        self.workers, self.conns, self.commands = group.processes, group.conns, group.commands
        target, shared, processes, ops, lines = self.scenario.child_target, self.shared, self.processes, self.ops, self.lines
        group.start(processes, _child_main, lambda index, theirs, their_commands: (
            target, shared, index, processes, ops, (their_commands, theirs), parent_locks, lines, self._bookkeeping))
        for mine, my_commands in zip(self.conns, self.commands):
            self._command_fds.append(my_commands.fileno())
            if self._pollers is not None:
                poller = select.poll()
                poller.register(mine.fileno(), select.POLLIN)
                self._pollers.append(poller)
        for index in range(self.processes):
            # Starting is slower than stepping (spawn imports everything afresh): wait longer.
            message = self._receive(index, startup_allowance(self.timeout))
            if message[0] != "ready":
                raise ControlError(f"worker {index} could not start: {message[2]}")
        # This thread and the run's processes share one CPU (see placement): one runs at a
        # time, and a wake-up on another CPU costs more than a step. Given back at close().
        # Only now, so that no process started before (a forkserver) inherits it.
        self.placement = place([process.pid for process in self.workers] + [self.share.server_pid()])

    def _receive(self, index: int, timeout: Optional[float] = None) -> Tuple[Any, ...]:
        conn = self.conns[index]
        try:
            limit = self.timeout if timeout is None else timeout
            if not self._ready(index, limit):
                raise ControlError(
                    f"worker {index} did not reach its next visible operation within {limit:g} s "
                    "(is it waiting for something racecourse does not see?)"
                )
            message = read_message(conn.fileno())
        except (EOFError, OSError):
            process = self.workers[index]
            process.join(1.0)
            raise ControlError(f"worker {index} died (exit status {process.exitcode})") from None
        return message

    def _ready(self, index: int, timeout: float) -> bool:
        """Wait for a message from worker ``index`` for at most the timeout. One poll object
        per pipe, made once: this runs twice per step, and ``Connection.poll`` builds a new
        selector every time."""
        if self._pollers is None:
            return bool(self.conns[index].poll(timeout))
        return bool(self._pollers[index].poll(timeout * 1000))

    def close(self) -> None:
        """Stop every worker and tear down the shared state; safe to call twice."""
        self.placement.release()  # first: nothing below may keep this thread on one CPU
        for commands in self.commands:
            try:
                # Twice: a worker stopped mid-schedule takes the first as "abort", then quits.
                os.write(commands.fileno(), QUIT + QUIT)
            except OSError:
                pass
        for process in self.workers:
            process.join(1.0)
        stop_processes(self.workers)
        for conn in self.conns + self.commands:
            conn.close()
        for process in self.workers:
            process.close()
        self.workers, self.conns, self.commands, self._command_fds = [], [], [], []
        self.share.close()

    def __enter__(self) -> "Controller":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one schedule ------------------------------------------------------------------

    def run(self, choose: Chooser, *, watch: bool = False,
            on_step: Optional[Callable[[RunState, Step], None]] = None, states: bool = False) -> Execution:
        """Run one schedule from the initial state, asking ``choose`` who goes at each step.

        ``watch`` records the shared state after every step (for timelines); ``on_step`` is
        told of every step as it happens (for ``play``); ``states``: each worker reports its
        own state with each operation (``run.states``, for state caching).
        """
        self.snapshot.restore()
        self.executions += 1
        run = RunState(self)
        execution = Execution(self, run)
        command = RUN_STATES if states else RUN
        for fd in self._command_fds:
            os.write(fd, command)
        for index in range(self.processes):
            self._settle(index, self._receive(index), run, execution)
        while run.pending:
            if not self._choose_and_step(choose, run, execution, watch, on_step):
                break
        if execution.status is Status.ABANDONED:
            return execution
        held = run.sync.still_held()
        if held is not None and execution.status is Status.DONE:
            raise ControlError(
                f"process {held[0]} finished while holding {held[1]}: "
                "racecourse cannot reset a lock held by a finished process"
            )
        self._judge(execution)
        return execution

    def _endless_story(self, run: RunState) -> str:
        recent = sorted(set(run.schedule[-100:]))
        doing = "; ".join(f"process {process} {describe_op(run.pending[process])}"
                          for process in recent if process in run.pending)
        return (f"{self.scenario.id}: a schedule ran {len(run.schedule):,} steps without ending ({doing}, "
                f"again and again): a loop that never ends is told only where racecourse can tell the run's "
                f"state, and it cannot here (the README on loops that poll says where); a blocking wait in place of the poll "
                f"is controlled exactly")

    def _choose_and_step(self, choose: Chooser, run: RunState, execution: Execution, watch: bool,
                         on_step: Optional[Callable[[RunState, Step], None]]) -> bool:
        """Let the chosen process perform its next operation; False when the schedule
        ends here (a deadlock, or the chooser gave it up)."""
        pending, sync = run.pending, run.sync
        runnable = sync.runnable
        run.enabled = enabled = [p for p in sorted(pending) if runnable(p, pending[p])]
        if not enabled:
            execution.status = Status.DEADLOCK
            execution.deadlock = sync.deadlock_story(pending)
            self._abort(pending)
            return False
        if len(run.schedule) >= self.max_steps:
            story = self._endless_story(run)
            self._abort(pending)
            raise ControlError(story)
        try:
            process = choose(run)
        except Abandon:
            execution.status = Status.ABANDONED
            self._abort(pending)
            return False
        except Livelock as livelock:
            execution.status = Status.LIVELOCK
            execution.livelock, execution.loop = livelock.story, livelock.loop
            self._abort(pending)
            return False
        except BaseException:  # a bad replay, an interrupted play: unwind the workers first
            self._abort(pending)
            raise
        op = pending.pop(process)
        os.write(self._command_fds[process], TIME_OUT if op.kind in _TIMED and sync.times_out(process, op) else GO)
        message = self._receive(process)
        value = message[1]
        step = Step(process, op.kind, op.key, op.label, value, run.lines.get(process))
        if op.kind in RESOURCES:  # asked here, not inside: this runs every step
            sync.apply(process, op, value)
        else:
            step.lost = run.lost_updates.note(len(run.steps), process, op, value)
        run.steps.append(step)
        run.schedule.append(process)
        self._settle(process, message, run, execution)
        if watch:
            step.state = self.state_text(step)
        if on_step is not None:
            on_step(run, step)
        return True

    def _settle(self, process: int, raw: Tuple[Any, ...], run: RunState, execution: Execution) -> None:
        """File a worker's message: its next operation (and its line), or that it finished or raised."""
        if raw[0] == OP:  # the common case, read without making a Message (this runs every step)
            run.pending[process] = _new_op(Op, raw[2:OP_LINE])
            run.lines[process] = raw[OP_LINE]
            if len(raw) > OP_STATE:
                run.states[process] = raw[OP_STATE]
            return
        message = Message.read(raw)
        run.states[process] = ("finished", message.error[0] if message.error is not None else None)
        if message.error is not None:
            execution.errors[process] = message.error
        elif message.tag != DONE:
            raise ControlError(f"worker {process} sent {message.tag!r} out of turn")

    def _abort(self, pending: Dict[int, Op]) -> None:
        """Unwind every worker still waiting at a visible operation."""
        for process in pending:
            os.write(self._command_fds[process], ABORT)
        for process in list(pending):
            message = self._receive(process)
            while message[0] == OP:  # cannot happen: an aborting worker never asks again
                raise ControlError(f"worker {process} kept going after it was told to stop")
        pending.clear()

    # -- judging -------------------------------------------------------------------------

    def state_text(self, step: Optional[Step] = None) -> str:
        """The shared state between two steps: the count for a counter scenario, else the
        value last read or written by the step."""
        observe = self.scenario.observe
        if observe is not None:
            try:
                return f"{self._observed_name}={self._call_on_peek('observe', observe)}"
            except Exception as error:
                return f"{self._observed_name} unreadable ({type(error).__name__})"
        if step is not None and step.kind in (READ, WRITE):
            return f"{step.label}={step.value!r}"
        return ""

    @property
    def _observed_name(self) -> str:
        return "count" if self.scenario.counts_updates else "value"

    def _call_on_peek(self, name: str, function: Callable[..., Any]) -> Any:
        """The scenario's ``check`` or ``observe`` on the shared state, in the parent. A
        mistake in it (a parameter no shared object has, an exception) is the scenario
        file's, not an outcome of the schedule: it ends the exploration as a ControlError,
        which the command line says in one line."""
        try:
            bound = self._bound.get(name)
            if bound is None:
                bound = self._bound[name] = bound_call(function, self.peek)
        except TypeError as error:  # its signature names what build did not share
            raise ControlError(f"{self.scenario.id}: {error}") from None
        try:
            return bound()
        except Exception as error:
            where = traceback.extract_tb(error.__traceback__)[-1]
            raise ControlError(f"{self.scenario.id}: {name}() raised {type(error).__name__}: {error} "
                               f"({os.path.basename(where.filename)}, line {where.lineno})") from error

    def _judge(self, execution: Execution) -> None:
        scenario = self.scenario
        if execution.status is Status.DEADLOCK:
            execution.outcome = "deadlock"
            return
        if execution.status is Status.LIVELOCK:
            execution.outcome = "livelock"
            return
        if execution.errors:
            process = min(execution.errors)
            execution.outcome = f"error in process {process}: {execution.errors[process][0]}"
            names = [summary.split(":", 1)[0] for summary, _ in execution.errors.values()]
            execution.correct = raises_documented(scenario, names) and scenario.expect is Expect.ERROR
            return
        parts = []
        if scenario.check is not None:
            execution.violation = self._call_on_peek("check", scenario.check)
        if scenario.observe is not None:
            execution.expected = self.expected
            execution.observed = int(self._call_on_peek("observe", scenario.observe))
            lost = execution.lost or 0
            # A count above the expected one (money created by a lost debit) is no "-60 lost";
            # a value that is not a count is only right or wrong.
            if not scenario.counts_updates:
                shortfall = f" (expected {execution.expected})" if lost else ""
            elif lost > 0:
                shortfall = f" (expected {execution.expected}, {lost} lost)"
            else:
                shortfall = f" (expected {execution.expected}, {-lost} too many)" if lost else ""
            parts.append(f"{self._observed_name}={execution.observed}{shortfall}")
        if execution.violation is not None:
            parts.append(execution.violation)
        elif scenario.observe is None:
            parts.append("invariant holds")
        execution.outcome = "; ".join(parts)
        execution.correct = not execution.lost and execution.violation is None


def refuse_uncontrollable(scenario: Scenario) -> None:
    """Raise :class:`Uncontrollable` for a scenario that control cannot run, before anything starts."""
    if scenario.program is not None:
        raise Uncontrollable(
            f"{scenario.id} is a program scenario (its parent drives its own Pool or Process), "
            "which racecourse cannot schedule: stress it instead ('racecourse run', racecourse.stress), "
            "or, to explore it, declare the code each process runs as worker= "
            "(worker(<shared names>, ops, index, processes)) with build= for its shared state"
        )
    assert scenario.worker is not None
    namespace = getattr(scenario.worker, "__globals__", {})
    refuse_module_globals(namespace, namespace.get("__name__", "the worker's module"))
