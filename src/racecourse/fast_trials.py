"""Fast trials: many tiny trials on worker processes that stay alive, as jcstress does.

A race in 2 processes x 1 operation shows in some trials and not others, so its outcome
table needs tens of thousands of trials; starting fresh processes for each one (the
stress runner) costs milliseconds a trial. Here the N workers are started once and run
every trial among themselves, while the parent sleeps:

1. worker 0 posts the trial's number (a generation counter in a shared control block);
2. every worker marks itself arrived and spins until all have: they leave the start line
   within a spin of each other. A ``multiprocessing.Barrier`` would cost a semaphore
   round trip per process; and a parent that took part in every trial would need a core
   of its own, which a 2-core machine running 2 workers does not have, so the workers
   would take turns instead of overlapping;
3. each worker runs its operations and marks itself done; worker 0 waits for all, then
   records the bytes of the shared state in a histogram, puts the state back as it was
   after ``build``, and posts the next trial.

At the end the parent receives the histogram of final states. It writes each distinct
state into the shared objects and calls the scenario's ``observe`` (or ``check``) on it,
in the parent, as the stress runner would: one observation per distinct outcome rather
than one per trial.

Which scenarios can run this way: worker scenarios whose shared state can be put back
byte for byte between trials: ``Value``, ``Array`` (raw or synchronized),
``shared_memory`` blocks, and locks (left as they are: every worker releases what it
took). A Manager or a Pool is refused before any process starts (``NotResettable``):
resetting a Manager means a round trip per proxied object per trial, which would defeat
the purpose, and a Pool owns processes of its own. Program scenarios, and scenarios
declared to raise or to deadlock, are refused too. ``racecourse run`` falls back to the
stress runner for them. What ``observe`` reads must be the shared state (or, as in
global-counter, the parent's own memory): worker processes keep their module globals
from one trial to the next.

Every path out (the last trial, an exception in a worker, a killed worker, a timeout,
Ctrl-C) stops the workers and tears the shared state down, with the worker group's own
helpers (``workers``).
"""

from __future__ import annotations

import ctypes
import multiprocessing.synchronize as synchronize
import struct
import time
import traceback
from multiprocessing import shared_memory
from multiprocessing.connection import wait
from typing import Any, Callable, Dict, List, Optional, Tuple

from .catalogue import worker_in_child
from .errors import RacecourseError
from .model import Expect, Scenario, Shared, bound_call, check_importable_worker
from .results import Failure, FastRunResult
from .sharing import Share, default_start_method, set_semaphore_count, startup_allowance
from .verdicts import observer
from .workers import GRACE_SECONDS, TrialTimeout, WorkerFailed, WorkerGroup, ask_where_stuck, child_main

Progress = Callable[[int, int], None]

# `racecourse run` picks fast trials by itself from this many trials up, when every worker
# does at most FAST_MAX_OPS operations (beyond that a trial is long enough that starting
# processes for it costs little, and each trial's count is its own story).
FAST_MIN_TRIALS = 100
FAST_MAX_OPS = 1_000

# The control block, one int64 per slot: the trial to run now (STOP ends the workers), the
# number of trials completed, then each worker's last trial at the start line, then each
# worker's last trial done.
_GO, _COMPLETED, _SLOTS = 0, 1, 2
_STOP = -1
# Spins (a few dozen nanoseconds each) before a waiting worker pauses, and for how long.
_SPIN_LIMIT = 200
_PAUSE_SECONDS = 50e-6
# How often the sleeping parent looks at the clock and at the workers.
_POLL_SECONDS = 0.05


class NotResettable(RacecourseError):
    """The scenario cannot run as fast trials; the message says why."""


def unsupported_reason(scenario: Scenario) -> Optional[str]:
    """Why ``scenario`` cannot run as fast trials, judged without building anything."""
    if scenario.worker is None:
        return "it is a program scenario: the parent drives its own processes"
    if scenario.expect is Expect.ERROR:
        return "it is declared to raise an error, which ends a worker"
    if scenario.expect is Expect.DEADLOCK:
        return "it may deadlock, and deadlocked workers cannot be reset"
    return None


class _ResettableShare(Share):
    """A Share that refuses, before starting anything, what cannot be reset cheaply."""

    def manager(self) -> Any:
        raise NotResettable("it shares Manager proxies: resetting them costs server round trips every trial")

    def remote_manager(self) -> Any:
        raise NotResettable("it shares a remote Manager: resetting it costs network round trips every trial")

    def Pool(self, processes: int, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        raise NotResettable("it uses a Pool, whose processes are not the trial's workers")

    def Process(self, **kwargs: Any) -> Any:  # noqa: N802
        raise NotResettable("it starts processes of its own")


def _ctypes_object(value: Any) -> Optional[Any]:
    """The ctypes object behind a Value or Array, raw or synchronized; else None."""
    inner = value.get_obj() if hasattr(value, "get_obj") and hasattr(value, "get_lock") else value
    if isinstance(inner, (ctypes._SimpleCData, ctypes.Array, ctypes.Structure)):
        return inner
    return None


def _is_lock(value: Any) -> bool:
    # Lock, RLock and Condition: state that every worker that ends leaves as it found it
    # (it releases what it took). A Semaphore's count and an Event's flag are not: a worker
    # may release without acquiring or set without clearing; SharedState puts them back.
    return isinstance(value, (synchronize.Lock, synchronize.RLock, synchronize.Condition))


_COUNT = struct.Struct("!i")


_PLAIN = (int, float, str, bytes, bool, type(None))


class SharedState:
    """The bytes of every shared object, in one process's view: read, and written back.

    Raises NotResettable for anything it does not know how to read and write back.
    """

    def __init__(self, shared: Shared) -> None:
        self._regions: List[Tuple[int, int]] = []  # (address, size) of ctypes objects
        self._blocks: List[Tuple[Any, int]] = []  # (memoryview, size) of shared_memory blocks
        self._signals: List[Any] = []  # Semaphores (their count) and Events (their flag)
        for name, value in shared.items():
            obj = _ctypes_object(value)
            if obj is not None:
                self._regions.append((ctypes.addressof(obj), ctypes.sizeof(obj)))
            elif isinstance(value, shared_memory.SharedMemory):
                buf: Any = value.buf
                self._blocks.append((buf, len(buf)))
            elif isinstance(value, (synchronize.Semaphore, synchronize.Event)):
                if isinstance(value, synchronize.Semaphore):
                    try:
                        value.get_value()
                    except NotImplementedError:  # macOS has no sem_getvalue
                        raise NotResettable(f"its shared Semaphore {name!r} cannot be read on this platform") from None
                self._signals.append(value)
            elif _is_lock(value) or isinstance(value, _PLAIN) or (
                isinstance(value, tuple) and all(isinstance(item, _PLAIN) for item in value)
            ):
                continue  # nothing to put back
            else:
                raise NotResettable(
                    f"racecourse cannot reset its shared {name!r} ({type(value).__name__}) between trials"
                )
        self.initial = self.capture()

    def capture(self) -> bytes:
        parts = [ctypes.string_at(address, size) for address, size in self._regions]
        parts.extend(bytes(buf) for buf, _ in self._blocks)
        parts.extend(_COUNT.pack(_signal_state(value)) for value in self._signals)
        return b"".join(parts)

    def restore(self, state: bytes) -> None:
        offset = 0
        for address, size in self._regions:
            ctypes.memmove(address, state[offset:offset + size], size)
            offset += size
        for buf, size in self._blocks:
            buf[:size] = state[offset:offset + size]
            offset += size
        for value in self._signals:
            (wanted,) = _COUNT.unpack_from(state, offset)
            offset += _COUNT.size
            _set_signal_state(value, wanted)


def _signal_state(value: Any) -> int:
    return int(value.is_set()) if isinstance(value, synchronize.Event) else int(value.get_value())


def _set_signal_state(value: Any, wanted: int) -> None:
    """Put a Semaphore's count or an Event's flag back (no worker runs meanwhile)."""
    if isinstance(value, synchronize.Event):
        if wanted:
            value.set()
        else:
            value.clear()
        return
    set_semaphore_count(value, wanted)


def _pause() -> None:
    """Wait a moment without holding a core.

    A worker that spins for long waits for one that has no core (more workers than free
    cores, or a loaded machine). Sleeping leaves this core idle, and the kernel moves the
    waiting worker onto it at once; sched_yield would not, as that worker is queued on
    another core.
    """
    time.sleep(_PAUSE_SECONDS)


def _spin_until_all(control: Any, slots: range, generation: int) -> None:
    spins = 0
    for slot in slots:
        while control[slot] != generation:
            spins += 1
            if spins > _SPIN_LIMIT:
                _pause()


def _fast_body(
    conn: Any,
    target: Any,
    shared: Shared,
    index: int,
    processes: int,
    ops: int,
    trials: int,
    control: Any,
    results: Any,
) -> None:
    """What one persistent worker does (inside ``workers.child_main``, which reports)."""
    work = bound_call(worker_in_child(target), {**shared, "ops": ops, "index": index, "processes": processes})
    state = SharedState(shared) if index == 0 else None  # worker 0 keeps the score
    finals: Dict[bytes, int] = {}
    conn.send(("ready", None))
    arrived = range(_SLOTS, _SLOTS + processes)
    done = range(_SLOTS + processes, _SLOTS + 2 * processes)
    previous = 0
    while True:
        spins = 0
        while control[_GO] == previous:
            spins += 1
            if spins > _SPIN_LIMIT:
                _pause()
        generation = control[_GO]
        if generation == _STOP:
            break
        control[arrived[index]] = generation
        _spin_until_all(control, arrived, generation)
        work()
        control[done[index]] = generation
        if state is not None:
            _spin_until_all(control, done, generation)
            final = state.capture()
            finals[final] = finals.get(final, 0) + 1
            state.restore(state.initial)
            control[_COMPLETED] = generation
            control[_GO] = generation + 1 if generation < trials else _STOP
        previous = generation
    if state is not None:
        results.send(finals)


class _FastWorkers(WorkerGroup):
    """Persistent workers that run every trial among themselves."""

    def __init__(self, share: Share, scenario: Scenario, processes: int) -> None:
        super().__init__(share, f"racecourse-fast-{scenario.id}")
        self.scenario = scenario
        ctx: Any = share.context
        self.control = ctx.RawArray("q", _SLOTS + 2 * processes)  # zero-filled: nothing run yet
        self.results, self._results_sender = ctx.Pipe(duplex=False)
        self.finals: Dict[bytes, int] = {}

    def launch(self, shared: Shared, processes: int, ops: int, trials: int) -> None:
        target, results = self.scenario.child_target, self._results_sender
        try:
            self.start(processes, child_main, lambda index, sender: (
                _fast_body, sender, target, shared, index, processes, ops, trials, self.control, results))
        finally:
            results.close()  # only worker 0 writes the final states

    def trials(self, timeout: float, progress: Optional[Progress], total: int) -> float:
        """Start the trials and sleep until worker 0 sends the final states; the seconds
        they took. The run stops when no trial has completed for ``timeout`` seconds."""
        self.collect("ready", time.monotonic() + startup_allowance(timeout))
        began = time.monotonic()
        self.control[_GO] = 1
        watched = self.conns + [p.sentinel for p in self.processes]
        last, moved = 0, began
        all_done = False
        while not self.results.poll(_POLL_SECONDS):
            if not all_done and wait(watched, 0):
                # A worker reported an error or died (_collect raises, saying which and how),
                # or they all finished and the final states are on their way.
                self.collect("done", time.monotonic() + timeout)
                all_done = True
                continue
            completed, now = int(self.control[_COMPLETED]), time.monotonic()
            if completed != last:
                last, moved = completed, now
                if progress is not None:
                    progress(completed, total)
            elif now - moved > timeout:
                done = range(_SLOTS + len(self.processes), _SLOTS + 2 * len(self.processes))
                stuck = [i for i, slot in enumerate(done) if self.control[slot] != last + 1] or [0]
                names = ", ".join(str(i) for i in stuck)
                raise TrialTimeout(f"trial {last + 1} did not finish: worker(s) {names} still running", False, stuck)
        self.finals = self.results.recv()
        elapsed = time.monotonic() - began
        if not all_done:
            self.collect("done", time.monotonic() + timeout)
        # Let the workers exit on their own, running their finalizers (as the stress runner does).
        self.let_exit(time.monotonic() + GRACE_SECONDS)
        return elapsed

    @property
    def completed(self) -> int:
        return int(self.control[_COMPLETED])

    def close(self, grace: float = GRACE_SECONDS) -> None:
        super().close(grace)
        self.results.close()
        self._results_sender.close()


def run(
    scenario: Scenario,
    *,
    trials: int,
    processes: Optional[int] = None,
    ops: Optional[int] = None,
    start_method: Optional[str] = None,
    timeout: Optional[float] = None,
    progress: Optional[Progress] = None,
) -> FastRunResult:
    """Run ``trials`` fast trials of ``scenario`` and return their outcome histogram.

    Raises NotResettable, before any process starts, if the scenario cannot run this way.
    ``timeout`` bounds each trial; the workers' start-up has ``startup_allowance(timeout)``.
    """
    if trials < 1:
        raise ValueError(f"fast trials need at least one trial, not {trials}")
    reason = unsupported_reason(scenario)
    if reason is not None:
        raise NotResettable(reason)
    defaults = scenario.defaults
    method = start_method or default_start_method()
    check_importable_worker(scenario, method)
    n = defaults.processes if processes is None else processes
    k = defaults.ops if ops is None else ops
    limit = defaults.timeout if timeout is None else timeout
    expected = scenario.expected(n, k) if scenario.is_counter else None
    result = FastRunResult(scenario, method, n, k, expected, requested=trials)
    share = _ResettableShare(method)
    workers: Optional[_FastWorkers] = None
    started = time.monotonic()
    try:
        shared = bound_call(scenario.build, {"share": share, "processes": n, "ops": k})()
        state = SharedState(shared)  # refuses what it cannot reset, before any process starts
        look = observer(scenario, shared)
        workers = _FastWorkers(share, scenario, n)
        workers.launch(shared, n, k, trials)
        result.trial_seconds = workers.trials(limit, progress, trials)
        result.completed = trials
        # Observe each distinct final state once, in the parent.
        for final, count in workers.finals.items():
            state.restore(final)
            outcome = look()
            result.counts[outcome] = result.counts.get(outcome, 0) + count
    except WorkerFailed as error:
        result.failure = error.failure
    except TrialTimeout as error:
        ask_where_stuck(workers, error)
        result.failure = error.failure(limit)
    except NotResettable:
        raise
    except Exception as error:  # raised in the parent: by build or observe
        name = type(error).__name__
        result.failure = Failure("exception", f"{name}: {error}", None, traceback.format_exc(), name)
    finally:
        result.seconds = time.monotonic() - started
        if workers is not None:
            if result.failure is not None:
                result.completed = workers.completed
            workers.close()
            workers = None  # drop the pipes and the control block before share.close() collects
        share.close()
    return result


def eligible(scenario: Scenario, trials: int, ops: int) -> bool:
    """Whether ``racecourse run`` should pick fast trials by itself (it still falls back
    to the stress runner if building the scenario shows state it cannot reset)."""
    return unsupported_reason(scenario) is None and trials >= FAST_MIN_TRIALS and ops <= FAST_MAX_OPS


__all__ = ["FAST_MAX_OPS", "FAST_MIN_TRIALS", "NotResettable", "SharedState", "eligible", "run", "unsupported_reason"]
