"""The stress runner: real processes, natural scheduling, many trials.

One trial: build the shared state, start N workers, let each report that it is ready,
release them together at a start line (without it, on 2 cores, a fast worker can
finish before the next one has started and nothing races), wait for every one of them
with a deadline, then read the result in the parent. The trial's timeout counts from that
start line; starting the workers has an allowance of its own (``startup_allowance``). The
seconds a trial reports are those its workers ran: from the first one past the start line
(its own clock reading, sent with its "done") to the parent hearing the last one is done.
Every path out of a trial (success, an exception in a worker, a killed worker, a timeout,
Ctrl-C) goes through the same ``finally`` that kills what is still running and tears the
shared state down.
"""

from __future__ import annotations

import functools
import os
import signal
import sysconfig
import threading
import time
import traceback
from typing import Any, Callable, List, Optional

from .catalogue import worker_in_child
from .model import Scenario, Shared, call_with, check_importable_worker
from .remote import Endpoint, RemoteServer
from .results import Failure, RunResult, TrialResult
from .sharing import Share, default_start_method, startup_allowance
from .verdicts import judge_incomplete, judge_trial
from .workers import GRACE_SECONDS, TrialTimeout, WorkerFailed, WorkerGroup, ask_where_stuck, child_main

# Errors a client gets when its Manager server goes away, and how long the server may
# then take to finish exiting.
_CONNECTION_LOST = {"EOFError", "BrokenPipeError", "ConnectionResetError", "ConnectionRefusedError",
                    "ConnectionAbortedError", "ConnectionError"}
_SERVER_EXIT_SECONDS = 5.0

Progress = Callable[[int, int], None]


def _worker_body(conn: Any, target: Any, shared: Shared, index: int, processes: int, ops: int, start_line: Any,
                 startup: float) -> float:
    """What one worker of a trial does (inside ``workers.child_main``, which reports); returns
    when it passed the start line, which goes to the parent with its "done"."""
    worker = worker_in_child(target)
    conn.send(("ready", None))
    if not start_line.acquire(timeout=startup):  # the slowest sibling may still be starting
        raise TrialTimeout("the parent never opened the start line")
    # time.monotonic() is one clock for every process of the machine (CLOCK_MONOTONIC).
    began = time.monotonic()
    call_with(worker, {**shared, "ops": ops, "index": index, "processes": processes})
    return began


def _blame_lost_server(share: Share, failure: Failure) -> Failure:
    """A worker that failed because its Manager server died: report the server first."""
    lost = share.lost_servers(_SERVER_EXIT_SECONDS if failure.exception_type in _CONNECTION_LOST else 0.0)
    if not lost:
        return failure
    who, kind, what = lost[0]
    then = "worker(s)" if failure.process is None else f"worker {failure.process}"
    return Failure(kind, f"{what}; {then} then failed: {failure.message}", failure.process,
                   failure.traceback, failure.exception_type, who)


class _Workers(WorkerGroup):
    """The N worker processes of one trial, released together at a start line."""

    def __init__(self, share: Share, scenario: Scenario) -> None:
        super().__init__(share, f"racecourse-{scenario.id}")
        self.scenario = scenario
        # The start line is a semaphore the parent releases once per worker. Not a Barrier:
        # a Barrier (a Condition inside) waits for every sleeper it wakes to acknowledge,
        # and a worker killed while waiting at it would leave the parent waiting forever.
        self.start_line = share.context.Semaphore(0)

    def launch(self, shared: Shared, processes: int, ops: int, startup: float) -> None:
        target = self.scenario.child_target
        self.start(processes, child_main, lambda index, sender: (
            _worker_body, sender, target, shared, index, processes, ops, self.start_line, startup))

    def run(self, startup_deadline: float, timeout: float) -> float:
        """Release the workers together once all are ready; the seconds they ran, from the
        first one past the start line to the last "done" heard.

        Not from the release: how long the scheduler takes to wake the first worker is
        not part of the run, and a hand-written script's barrier cannot time it either
        (its parent starts a clock only when it is woken itself, often after its workers
        have begun). Everything racecourse does in a worker after the start line is
        inside the span."""
        self.collect("ready", startup_deadline)
        released = time.monotonic()
        for _ in self.processes:
            self.start_line.release()
        deadline = released + timeout
        finished = self.collect("done", deadline)
        # Any still alive after the grace period is stopped in close().
        self.let_exit(min(deadline, time.monotonic() + GRACE_SECONDS))
        starts: List[float] = [began for _, began in finished]
        return max(heard for heard, _ in finished) - min(starts)


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
            raise WorkerFailed(Failure(kind, f"{what} while the program ran ({dropped})", who=who))
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
    share = Share(start_method) if connect is None else Share(
        start_method, functools.partial(RemoteServer, elsewhere=connect))
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
            workers = _Workers(share, scenario)
            workers.launch(shared, processes, ops, startup)
            seconds = workers.run(started + startup, timeout)
        return judge_trial(scenario, start_method, shared, expected, seconds)
    except WorkerFailed as error:
        failure = _blame_lost_server(share, error.failure)
        return judge_incomplete(scenario, expected, time.monotonic() - started, failure)
    except TrialTimeout as error:
        ask_where_stuck(workers, error)
        failure = _blame_lost_server(share, error.failure(timeout))
        return judge_incomplete(scenario, expected, time.monotonic() - started, failure, stuck_running=not error.starting)
    except Exception as error:  # raised in the parent: by build, program or observe
        interrupt = _interrupt_behind(error)
        if interrupt is not None:
            raise interrupt from None
        failure = Failure("exception", f"{type(error).__name__}: {error}", None, _users_traceback(error),
                          type(error).__name__)
        return judge_incomplete(scenario, expected, time.monotonic() - started, _blame_lost_server(share, failure))
    finally:
        if workers is not None:
            workers.close()
        share.close()


_OWN_FILES = os.path.dirname(os.path.abspath(__file__)) + os.sep


_STDLIB = os.path.abspath(sysconfig.get_paths()["stdlib"]) + os.sep


def _ours_or_stdlib(filename: str) -> bool:
    path = os.path.abspath(filename)
    stdlib = path.startswith(_STDLIB) and not any(part in path for part in ("site-packages", "dist-packages"))
    return path.startswith(_OWN_FILES) or stdlib or filename.startswith("<")


def _users_traceback(error: BaseException) -> str:
    """The traceback of an exception raised in the parent, with racecourse's own frames left
    out: what the user needs is the line of their build, program, check or observe. A
    mistake racecourse found calling them (a parameter no shared object has) has none."""
    stack = traceback.extract_tb(error.__traceback__)
    # From the first of the user's frames (the way in passes through racecourse and the
    # standard library: PyPy shows functools.partial's own frame), then all but racecourse's.
    users = [index for index, frame in enumerate(stack) if not _ours_or_stdlib(frame.filename)]
    if not users:
        return ""
    frames = [frame for frame in stack[users[0]:] if not os.path.abspath(frame.filename).startswith(_OWN_FILES)]
    return "".join(["Traceback (most recent call last):\n", *traceback.format_list(frames),
                    *traceback.format_exception_only(type(error), error)])


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
    until_raced: bool = False,
) -> RunResult:
    """Run ``trials`` trials of ``scenario`` (unset options take the scenario's defaults).

    ``started`` is handed the result before the first trial; trials are added to it as
    they complete, so a caller interrupted by Ctrl-C still has the ones completed so far.
    ``until_raced`` ends the run after the first trial that shows the race: whether a run
    shows it is then decided as soon as it is known, at the cost of the trials after it."""
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
        if until_raced and trial.raced:
            break
    return result

