"""The stress runner: real processes, natural scheduling, many trials.

One trial: build the shared state, start N workers, let each report that it is ready,
release them together at a start line (without it, on 2 cores, a fast worker can
finish before the next one has started and nothing races), wait for every one of them
with a deadline, then read the result in the parent. The trial's timeout counts from that
start line; starting the workers has an allowance of its own (``startup_allowance``).
Every path out of a trial (success, an exception in a worker, a killed worker, a timeout,
Ctrl-C) goes through the same ``finally`` that kills what is still running and tears the
shared state down.
"""

from __future__ import annotations

import os
import signal
import sys
import sysconfig
import threading
import time
import traceback
from multiprocessing.connection import wait
from typing import Any, Callable, Dict, List, Optional, Tuple

from .catalogue import worker_in_child
from .child_signals import leave_signals_to_parent, starting_children
from .errors import RacecourseError
from .model import Expect, Scenario, Shared, call_with, check_importable_worker
from .remote import Endpoint
from .results import Failure, RunResult, TrialResult
from .sharing import Share, default_start_method, describe_exit, startup_allowance, stop_processes

# How long a terminated worker gets to exit before it is killed outright.
_GRACE_SECONDS = 1.0
# How long a worker that timed out gets to say where it is.
_STACK_SECONDS = 2.0
_RACECOURSE = os.path.dirname(os.path.abspath(__file__))
_STDLIB = sysconfig.get_paths()["stdlib"]

# Errors a client gets when its Manager server goes away, and how long the server may
# then take to finish exiting.
_CONNECTION_LOST = {"EOFError", "BrokenPipeError", "ConnectionResetError", "ConnectionRefusedError",
                    "ConnectionAbortedError", "ConnectionError"}
_SERVER_EXIT_SECONDS = 5.0

Progress = Callable[[int, int], None]


class TrialTimeout(RacecourseError):
    """A deadline passed with work still running, or (``starting``) with workers that never
    reached the start line."""

    def __init__(self, message: str, starting: bool = False, stuck: Optional[List[int]] = None):
        super().__init__(message)
        self.starting = starting
        self.stuck = stuck or []  # the workers still at it, when it is workers
        # Where each of them was, as they told it: (file, line, function, source) per frame.
        self.stacks: Dict[int, List[Tuple[str, int, str, str]]] = {}

    def failure(self, timeout: float) -> Failure:
        """The report of a trial with this timeout, naming the limit that ran out and the
        workers still running, with where each one was."""
        limit = startup_allowance(timeout) if self.starting else timeout
        if not self.stuck:
            return Failure("timeout", f"timed out after {limit:g} s: {self}")
        first = self.stacks.get(self.stuck[0])
        where = ""
        if first:
            # The innermost frame of the user's code (a deadlock's innermost is in the stdlib).
            theirs = [frame for frame in first if not frame[0].startswith(_STDLIB)] or first
            filename, line, function, source = theirs[-1]
            where = f", at {os.path.basename(filename)}, line {line}, in {function}: {source}"
        who = ("worker " if len(self.stuck) == 1 else "workers ") + ", ".join(str(i) for i in self.stuck)
        stacks = "\n".join(
            f"worker {index} was at (most recent call last):\n"
            + "".join(traceback.format_list(traceback.StackSummary.from_list(self.stacks[index]))).rstrip()
            for index in self.stuck if index in self.stacks
        )
        return Failure("timeout", f"timed out after {limit:g} s: {self}{where}", self.stuck[0], stacks, who=who)


def _tell_stack(conn: Any) -> Callable[[int, Any], None]:
    """A SIGUSR1 handler for a worker: send the parent where it is (the worker's frames,
    not racecourse's), so that a timeout can say where each stuck worker was."""

    def handler(signum: int, frame: Any) -> None:
        frames = traceback.extract_stack(frame)
        # The worker's own frames: those below racecourse's call of it (under fork, the
        # parent's frames above it are copies, not what this worker is doing).
        ours = [i for i, f in enumerate(frames) if f.filename.startswith(_RACECOURSE)]
        below = frames[ours[-1] + 1:] if ours else frames
        conn.send(("stack", [(f.filename, f.lineno, f.name, f.line or "") for f in below]))

    return handler


def _child_main(
    target: Any,
    shared: Shared,
    index: int,
    processes: int,
    ops: int,
    start_line: Any,
    conn: Any,
    startup: float,
) -> None:
    """Entry point of one worker process (module-level so spawn can import it)."""
    leave_signals_to_parent()  # the parent stops the workers itself and reports once
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, _tell_stack(conn))
    try:
        worker = worker_in_child(target)
        conn.send(("ready", None))
        if not start_line.acquire(timeout=startup):  # the slowest sibling may still be starting
            raise TrialTimeout("the parent never opened the start line")
        call_with(
            worker,
            {**shared, "ops": ops, "index": index, "processes": processes},
        )
        conn.send(("done", None))
    except BaseException as error:  # report everything, SystemExit included
        conn.send(("error", (type(error).__name__, str(error), traceback.format_exc())))
        conn.close()
        sys.exit(1)
    conn.close()


def _death(process: Any, index: int) -> Failure:
    kind, what = describe_exit(process.exitcode)
    return Failure(kind, what if kind == "signal" else f"{what} without reporting", index)


def _blame_lost_server(share: Share, failure: Failure) -> Failure:
    """A worker that failed because its Manager server died: report the server first."""
    lost = share.lost_servers(_SERVER_EXIT_SECONDS if failure.exception_type in _CONNECTION_LOST else 0.0)
    if not lost:
        return failure
    who, kind, what = lost[0]
    then = "worker(s)" if failure.process is None else f"worker {failure.process}"
    return Failure(kind, f"{what}; {then} then failed: {failure.message}", failure.process,
                   failure.traceback, failure.exception_type, who)


class _Workers:
    """The N worker processes of one trial and the pipes they report on."""

    def __init__(self, share: Share, scenario: Scenario, shared: Shared, processes: int, ops: int, startup: float):
        ctx = share.context
        # The start line is a semaphore the parent releases once per worker. Not a Barrier:
        # a Barrier (a Condition inside) waits for every sleeper it wakes to acknowledge,
        # and a worker killed while waiting at it would leave the parent waiting forever.
        self.start_line = ctx.Semaphore(0)
        self.processes: List[Any] = []
        self.conns: List[Any] = []
        for index in range(processes):
            receiver, sender = ctx.Pipe(duplex=False)
            process = ctx.Process(
                target=_child_main,
                args=(scenario.child_target, shared, index, processes, ops, self.start_line, sender, startup),
                name=f"racecourse-{scenario.id}-{index}",
                daemon=True,
            )
            self.conns.append(receiver)
            self.processes.append(process)
            with starting_children(share.start_method):
                process.start()
            sender.close()  # the parent keeps only the reading end

    def _collect(self, wanted: str, deadline: float) -> List[float]:
        """Wait until every worker sent ``wanted``; return when each one did."""
        pending = set(range(len(self.conns)))
        owner: Dict[Any, int] = {}
        for index, (conn, process) in enumerate(zip(self.conns, self.processes)):
            owner[conn] = owner[process.sentinel] = index
        finished_at: Dict[int, float] = {}
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                stuck = ", ".join(str(i) for i in sorted(pending))
                if wanted == "ready":
                    raise TrialTimeout(f"worker(s) {stuck} never reached the start line", True, sorted(pending))
                raise TrialTimeout(f"worker(s) {stuck} still running", False, sorted(pending))
            watched = [h for h, i in owner.items() if i in pending]
            for index in {owner[handle] for handle in wait(watched, remaining)} & pending:
                conn = self.conns[index]
                payload: Any
                try:
                    kind, payload = conn.recv() if conn.poll() else ("silent", None)
                except EOFError:  # it closed its pipe without a word: it died
                    self.processes[index].join(_GRACE_SECONDS)
                    raise _WorkerError(_death(self.processes[index], index)) from None
                if kind == "error":
                    name, message, text = payload
                    raise _WorkerError(Failure("exception", f"{name}: {message}", index, text, name))
                if kind == wanted:
                    finished_at[index] = time.monotonic()
                    pending.discard(index)
                if kind == "silent" and not self.processes[index].is_alive():
                    raise _WorkerError(_death(self.processes[index], index))
        return [finished_at[i] for i in range(len(self.conns))]

    def run(self, startup_deadline: float, timeout: float) -> float:
        """Release the workers together once all are ready; the seconds they ran."""
        self._collect("ready", startup_deadline)
        started = time.monotonic()
        for _ in self.processes:
            self.start_line.release()
        deadline = started + timeout
        finished = self._collect("done", deadline)
        # Let finished workers exit on their own: exiting runs their finalizers (a lock made
        # in the child unlinks its semaphore and unregisters it), which terminate() in
        # close() would cut short. Any still alive after the grace period is stopped there.
        exit_by = min(deadline, time.monotonic() + _GRACE_SECONDS)
        for process in self.processes:
            process.join(max(0.0, exit_by - time.monotonic()))
        return max(finished) - started

    def stacks(self, stuck: List[int]) -> Dict[int, List[Tuple[str, int, str, str]]]:
        """Ask each stuck worker where it is (SIGUSR1) and wait a moment for the answers;
        a worker blocked where Python cannot run its handler stays silent."""
        asked = {}
        for index in stuck:
            process = self.processes[index]
            if hasattr(signal, "SIGUSR1") and process.is_alive() and process.pid is not None:
                try:
                    os.kill(process.pid, signal.SIGUSR1)
                except ProcessLookupError:
                    continue
                asked[self.conns[index]] = index
        told: Dict[int, List[Tuple[str, int, str, str]]] = {}
        deadline = time.monotonic() + _STACK_SECONDS
        while asked and time.monotonic() < deadline:
            for ready in wait(list(asked), max(0.0, deadline - time.monotonic())):
                conn: Any = ready
                index = asked[conn]
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    del asked[conn]
                    continue
                if kind == "stack":
                    told[index] = payload
                    del asked[conn]
        return told

    def close(self) -> None:
        stop_processes(self.processes, _GRACE_SECONDS)
        for conn in self.conns:
            conn.close()
        for process in self.processes:
            process.close()


def ask_where_stuck(workers: Optional[_Workers], error: TrialTimeout) -> None:
    """Fill in where each worker of a timed-out trial was. Only workers past the start line
    are asked: one still starting has no SIGUSR1 handler yet, and the signal's default
    action (or a handler it inherited) would kill it."""
    if workers is not None and error.stuck and not error.starting:
        error.stacks = workers.stacks(error.stuck)


class _WorkerError(Exception):
    def __init__(self, failure: Failure):
        super().__init__(failure.message)
        self.failure = failure


class _Alarm:
    """A deadline for code the parent runs itself (program scenarios), and a watch on its
    Pools.

    SIGALRM interrupts the main thread only; elsewhere the program runs without one. The
    timer ticks every ``_WATCH_SECONDS`` rather than once at the deadline: a Pool worker
    killed by a signal is noticed at the next tick, not when the timeout runs out. A Pool
    replaces such a worker but drops the task it was running, so the program would wait
    for that task forever; and a run whose process was killed by someone has not run the
    program as written either way. So it ends there, the killed worker named as the cause,
    as a killed worker of an ordinary scenario is.
    """

    def __init__(self, seconds: float, share: Share):
        self.seconds = seconds
        self.share = share
        self.armed = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")

    def _tick(self, signum: int, frame: Any) -> None:
        killed = self.share.killed_pool_workers()  # before the program's `with` terminates its Pool
        if killed:
            who, kind, what = killed[0]
            dropped = "a Pool drops the task of a worker that dies, so the program would have waited for it forever"
            raise _WorkerError(Failure(kind, f"{what} while the program ran ({dropped})", who=who))
        if time.monotonic() >= self.deadline:
            raise TrialTimeout(f"the program did not finish within {self.seconds:g} s")

    def __enter__(self) -> "_Alarm":
        if self.armed:
            self.deadline = time.monotonic() + self.seconds
            self.previous = signal.signal(signal.SIGALRM, self._tick)
            first = min(self.seconds, _WATCH_SECONDS)
            signal.setitimer(signal.ITIMER_REAL, first, _WATCH_SECONDS)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


# How often a program scenario's Pools are looked at for killed workers: a list scan,
# cheap next to what any program does in a tenth of a second.
_WATCH_SECONDS = 0.1


def run_trial(
    scenario: Scenario,
    start_method: str,
    processes: int,
    ops: int,
    timeout: float,
    connect: Optional[Endpoint] = None,
) -> TrialResult:
    """One trial of ``scenario``; everything it started is gone when it returns or raises.

    ``connect``: the Manager server that ``share.remote_manager()`` uses instead of
    starting one of its own (``racecourse run remote-manager --connect``).
    """
    share = Share(start_method, connect)
    workers: Optional[_Workers] = None
    expected = scenario.expected(processes, ops) if scenario.is_counter else None
    started = time.monotonic()
    startup = startup_allowance(timeout)
    try:
        sizes = {"share": share, "processes": processes, "ops": ops}
        if scenario.program is not None:
            with _Alarm(timeout, share):
                shared = call_with(scenario.build, sizes)
                call_with(scenario.program, {**sizes, **shared})
            seconds = time.monotonic() - started
        else:
            shared = call_with(scenario.build, sizes)
            workers = _Workers(share, scenario, shared, processes, ops, startup)
            seconds = workers.run(started + startup, timeout)
        return _judge(scenario, start_method, shared, expected, seconds)
    except _WorkerError as error:
        failure = _blame_lost_server(share, error.failure)
        return _failed(scenario, expected, time.monotonic() - started, failure)
    except TrialTimeout as error:
        ask_where_stuck(workers, error)
        failure = _blame_lost_server(share, error.failure(timeout))
        return _failed(scenario, expected, time.monotonic() - started, failure, stuck_running=not error.starting)
    except Exception as error:  # raised in the parent: by build, program or observe
        interrupt = _interrupt_behind(error)
        if interrupt is not None:
            raise interrupt from None
        failure = Failure("exception", f"{type(error).__name__}: {error}", None, traceback.format_exc(), type(error).__name__)
        return _failed(scenario, expected, time.monotonic() - started, _blame_lost_server(share, failure))
    finally:
        if workers is not None:
            workers.close()
        share.close()


def _interrupt_behind(error: BaseException) -> Optional[KeyboardInterrupt]:
    """The Ctrl-C (or SIGTERM) that ``error`` was raised while handling, if any.

    An interrupt that lands inside multiprocessing's own locking (a Manager's or a
    Condition's, say) can leave it to fail on the way out, and the exception that reaches us
    is that failure, an AssertionError, with the interrupt only in its context.
    """
    seen = set()
    cause: Optional[BaseException] = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__context__
    return None


def _judge(scenario: Scenario, start_method: str, shared: Shared, expected: Optional[int], seconds: float) -> TrialResult:
    expect = scenario.expect.under(start_method)
    violation = call_with(scenario.check, shared) if scenario.check is not None else None
    observed: Optional[int]
    lost: Optional[int]
    if scenario.is_counter:
        assert scenario.observe is not None and expected is not None
        observed = int(call_with(scenario.observe, shared))
        # A value that is not a count (observes="value") is right or wrong, not short of updates.
        lost = expected - observed if scenario.counts_updates else None
        correct = observed == expected and violation is None
    else:
        observed = lost = None
        correct = violation is None
    # Racy and deadlock-prone scenarios are within their declaration whatever they show;
    # a scenario that promised an error and completed normally is not.
    ok = correct if expect is Expect.SAFE else expect is not Expect.ERROR
    return TrialResult(expected, observed, lost, ok, seconds, violation)


def _failed(
    scenario: Scenario, expected: Optional[int], seconds: float, failure: Failure, stuck_running: bool = False
) -> TrialResult:
    """The result of a trial that did not complete. ``stuck_running``: its workers timed out
    after the start line, which is how a deadlock shows (not while they were starting)."""
    expect = scenario.expect
    documented = scenario.raises is not None and failure.exception_type == scenario.raises.__name__
    if expect is Expect.ERROR and documented:
        return TrialResult(expected, None, None, True, seconds, failure=failure)
    if expect is Expect.DEADLOCK and failure.kind == "timeout" and stuck_running:
        return TrialResult(expected, None, None, True, seconds, violation="deadlocked: " + failure.message)
    return TrialResult(expected, None, None, False, seconds, failure=failure)


def run(
    scenario: Scenario,
    *,
    processes: Optional[int] = None,
    ops: Optional[int] = None,
    trials: Optional[int] = None,
    start_method: Optional[str] = None,
    timeout: Optional[float] = None,
    progress: Optional[Progress] = None,
    stop_on_failure: bool = True,
    connect: Optional[Endpoint] = None,
    started: Optional[Callable[[RunResult], None]] = None,
) -> RunResult:
    """Run ``trials`` trials of ``scenario`` (unset options take the scenario's defaults).

    ``started`` is handed the result before the first trial; trials are added to it as
    they complete, so a caller interrupted by Ctrl-C still has the ones completed so far."""
    defaults = scenario.defaults
    result = RunResult(
        scenario=scenario,
        start_method=start_method or default_start_method(),
        processes=defaults.processes if processes is None else processes,
        ops=defaults.ops if ops is None else ops,
    )
    check_importable_worker(scenario, result.start_method)  # before any process starts
    count = defaults.trials if trials is None else trials
    result.requested = count
    limit = defaults.timeout if timeout is None else timeout
    if started is not None:
        started(result)
    began = time.monotonic()
    for number in range(count):
        trial = run_trial(scenario, result.start_method, result.processes, result.ops, limit, connect)
        result.trials.append(trial)
        if progress is not None:
            progress(number + 1, count)
        result.wall_seconds = time.monotonic() - began
        if stop_on_failure and trial.failure is not None and not trial.ok:
            break
    return result

