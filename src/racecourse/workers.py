"""A group of worker processes: started together, watched, stopped on every path.

All three runners use it. The stress runner and fast trials also share the child side:
:func:`child_main` wraps the runner's own ``body`` (what the worker does between saying
"ready" and "done") with the signal set-up and the ready / error / done reporting that
:meth:`WorkerGroup.collect` reads. The controller speaks a protocol of its own on raw
pipes (see ``control.instrument``) and uses the group to start and hold its workers.
"""

from __future__ import annotations

import os
import signal
import sys
import sysconfig
import time
import traceback
from multiprocessing.connection import wait
from typing import Any, Callable, Dict, List, Optional, Tuple

from .child_signals import leave_signals_to_parent, starting_children
from .errors import RacecourseError
from .results import Failure
from .sharing import Share, describe_exit, startup_allowance, stop_processes

# How long a terminated worker gets to exit before it is killed outright.
GRACE_SECONDS = 1.0
# How long a worker that timed out gets to say where it is.
_STACK_SECONDS = 2.0
_RACECOURSE = os.path.dirname(os.path.abspath(__file__))
_STDLIB = sysconfig.get_paths()["stdlib"]

Frame = Tuple[str, int, str, str]  # (file, line, function, source)


class TrialTimeout(RacecourseError):
    """A deadline passed with work still running, or (``starting``) with workers that never
    reached the start line."""

    def __init__(self, message: str, starting: bool = False, stuck: Optional[List[int]] = None):
        super().__init__(message)
        self.starting = starting
        self.stuck = stuck or []  # the workers still at it, when it is workers
        # Where each of them was, as they told it.
        self.stacks: Dict[int, List[Frame]] = {}

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


class WorkerFailed(Exception):
    """A worker raised or died; ``failure`` says which and how."""

    def __init__(self, failure: Failure):
        super().__init__(failure.message)
        self.failure = failure


# -- the child side ---------------------------------------------------------------------


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


def child_main(body: Callable[..., Any], conn: Any, *args: Any) -> None:
    """Entry point of one worker process (module-level so spawn can import it).

    ``body(conn, *args)`` sends ("ready", None) once it is set up, then does its work;
    this sends ("done", what it returned) when it returns, or ("error", (name, message,
    traceback)) for anything it raised, SystemExit included, and then exits with status 1.
    """
    leave_signals_to_parent(die_with_parent=True)  # the parent stops the workers itself and reports once
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, _tell_stack(conn))
    try:
        conn.send(("done", body(conn, *args)))
    except BaseException as error:  # report everything, SystemExit included
        conn.send(("error", (type(error).__name__, str(error), traceback.format_exc())))
        conn.close()
        sys.exit(1)
    conn.close()


# -- the parent side --------------------------------------------------------------------


def _death(process: Any, index: int) -> Failure:
    kind, what = describe_exit(process.exitcode)
    return Failure(kind, what if kind == "signal" else f"{what} without reporting", index)


class WorkerGroup:
    """N worker processes, each with a pipe it reports on (``conns``) and, if asked for, a
    pipe it takes commands from (``commands``).

    Make the group first and :meth:`start` it second: whatever ``start`` got to before an
    error is already in the group, and :meth:`close` stops it.
    """

    def __init__(self, share: Share, name: str, commands: bool = False) -> None:
        self.share = share
        self.name = name
        self.with_commands = commands
        self.processes: List[Any] = []
        self.conns: List[Any] = []
        self.commands: List[Any] = []

    def start(self, count: int, target: Callable[..., None], args: Callable[..., Tuple[Any, ...]]) -> None:
        """Start ``count`` workers running ``target(*args(index, sender[, commands]))``, where
        ``sender`` is the worker's end of its report pipe and ``commands`` (with
        ``commands=True``) the reading end of its command pipe."""
        ctx: Any = self.share.context
        for index in range(count):
            receiver, sender = ctx.Pipe(duplex=False)
            self.conns.append(receiver)
            theirs = [sender]
            if self.with_commands:
                their_commands, my_commands = ctx.Pipe(duplex=False)
                self.commands.append(my_commands)
                theirs.append(their_commands)
            try:
                process = ctx.Process(target=target, args=args(index, *theirs), name=f"{self.name}-{index}",
                                      daemon=True)
                with starting_children(self.share.start_method):
                    process.start()
                self.processes.append(process)
            finally:
                for end in theirs:
                    end.close()  # only the child holds its ends: its death reads as end-of-file here

    def collect(self, wanted: str, deadline: float) -> List[Tuple[float, Any]]:
        """Wait until every worker sent ``wanted``; return, for each one, when it did and
        what it sent with it."""
        pending = set(range(len(self.conns)))
        owner: Dict[Any, int] = {}
        for index, (conn, process) in enumerate(zip(self.conns, self.processes)):
            owner[conn] = owner[process.sentinel] = index
        received: Dict[int, Tuple[float, Any]] = {}
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
                    self.processes[index].join(GRACE_SECONDS)
                    raise WorkerFailed(_death(self.processes[index], index)) from None
                if kind == "error":
                    name, message, text = payload
                    raise WorkerFailed(Failure("exception", f"{name}: {message}", index, text, name))
                if kind == wanted:
                    received[index] = (time.monotonic(), payload)
                    pending.discard(index)
                if kind == "silent" and not self.processes[index].is_alive():
                    raise WorkerFailed(_death(self.processes[index], index))
        return [received[i] for i in range(len(self.conns))]

    def let_exit(self, deadline: float) -> None:
        """Let finished workers exit on their own until ``deadline``: exiting runs their
        finalizers (a lock made in the child unlinks its semaphore and unregisters it),
        which terminate() in close() would cut short."""
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))

    def stacks(self, stuck: List[int]) -> Dict[int, List[Frame]]:
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
        told: Dict[int, List[Frame]] = {}
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

    def close(self, grace: float = GRACE_SECONDS) -> None:
        """Stop every worker still running and close every pipe; safe to call twice."""
        stop_processes(self.processes, grace)
        for conn in self.conns + self.commands:
            conn.close()
        for process in self.processes:
            process.close()
        self.processes, self.conns, self.commands = [], [], []


def ask_where_stuck(workers: Optional[WorkerGroup], error: TrialTimeout) -> None:
    """Fill in where each worker of a timed-out trial was. Only workers past the start line
    are asked: one still starting has no SIGUSR1 handler yet, and the signal's default
    action (or a handler it inherited) would kill it."""
    if workers is not None and error.stuck and not error.starting:
        error.stacks = workers.stacks(error.stuck)


__all__ = ["GRACE_SECONDS", "TrialTimeout", "WorkerFailed", "WorkerGroup", "ask_where_stuck", "child_main"]
