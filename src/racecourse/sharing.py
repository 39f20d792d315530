"""Builders for each kind of shared state, bound to one start method.

A scenario's ``build`` receives a :class:`Share` and asks it for what it shares:
``share.Value("i", 0, lock=False)``, ``share.manager().dict()``, ``share.shared_memory(8)``.
The Share remembers everything that needs tearing down (Manager servers, shared-memory
blocks, Pools) and :meth:`Share.close` removes all of it, on every path.
"""

from __future__ import annotations

import functools
import gc
import multiprocessing
import multiprocessing.managers
import multiprocessing.pool
import multiprocessing.synchronize
import signal
import socket
import threading
import time
from multiprocessing import shared_memory
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple, TypeVar, Union

from .child_signals import leave_signals_to_parent, starting_children

if TYPE_CHECKING:
    from .remote import RemoteManager, RemoteServer

# How a run gets its remote Manager (the hook ``Share`` takes): racecourse.remote's
# RemoteServer, for a server of the run's own or one elsewhere (``run --connect``).
RemoteServerFactory = Callable[[Any, str], "RemoteServer"]


def own_remote_server(context: Any, start_method: str) -> "RemoteServer":
    """A remote Manager server of the run's own (the networking code loads only for the
    scenarios that ask for one)."""
    from .remote import RemoteServer

    return RemoteServer(context, start_method)


T = TypeVar("T")


def available_start_methods() -> List[str]:
    return list(multiprocessing.get_all_start_methods())


def default_start_method() -> str:
    """The interpreter's own default (fork on Linux before 3.14, forkserver from 3.14)."""
    method = multiprocessing.get_start_method(allow_none=True)
    if method is None:
        method = multiprocessing.get_context().get_start_method()
    return method


def describe_exit(code: Optional[int]) -> Tuple[str, str]:
    """A finished process's exit code in words: ("signal", "killed by SIGKILL") or
    ("exit", "exited with status 1")."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return "signal", f"killed by {name}"
    return "exit", f"exited with status {code}"


def uses_remote_manager(build: Callable[..., Any]) -> bool:
    """Whether ``build`` (or a function of its module that it calls) asks ``share`` for
    ``remote_manager()``: the scenarios that ``run --connect`` applies to. Read from the
    code, so that nothing is built to find out."""
    seen: Set[int] = set()

    def names(code: Any, globals_: Dict[str, Any], depth: int) -> bool:
        if id(code) in seen:
            return False
        seen.add(id(code))
        if "remote_manager" in code.co_names:
            return True
        for name in code.co_names:
            called = getattr(globals_.get(name), "__code__", None)
            if called is not None and depth < 3 and names(called, globals_, depth + 1):
                return True
        return any(names(const, globals_, depth) for const in code.co_consts if hasattr(const, "co_names"))

    code = getattr(build, "__code__", None)
    return code is not None and names(code, getattr(build, "__globals__", {}), 0)


# racecourse's own modules that a worker's child imports: loaded once in the forkserver,
# every forkserver child starts with them (as fork's children do) instead of importing
# them itself. Never a scenario's module: a module-level Lock must stay one per child
# under forkserver (module-lock teaches exactly that). First, forkserver_setup: the
# forkserver ends with the process that started it.
_FORKSERVER_PRELOAD = ["racecourse.forkserver_setup", "racecourse.stress_runner", "racecourse.control.engine"]


def preload_in_forkserver() -> None:
    """Add racecourse's modules to what the forkserver preloads, if it has not started yet
    (the caller's own preload list is kept; a running server is left as it is)."""
    try:
        from multiprocessing import forkserver
    except ImportError:  # no forkserver on this platform
        return
    server: Any = getattr(forkserver, "_forkserver", None)
    if server is None or getattr(server, "_forkserver_pid", None) is not None:
        return
    modules = list(getattr(server, "_preload_modules", ["__main__"]))
    missing = [name for name in _FORKSERVER_PRELOAD if name not in modules]
    if missing:
        forkserver.set_forkserver_preload(modules + missing)


class Share:
    """Makes shared objects for one run and cleans all of them up afterwards."""

    def __init__(self, start_method: Optional[str] = None, remote_server: RemoteServerFactory = own_remote_server) -> None:
        self.start_method = start_method or default_start_method()
        # Any: typeshed's BaseContext lacks Process, which every concrete context has.
        self.context: Any = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            preload_in_forkserver()
        self._manager: Optional[multiprocessing.managers.SyncManager] = None
        self._remote_server = remote_server  # the hook that makes remote_manager()'s server
        self._remote: Optional["RemoteServer"] = None
        self._blocks: List[shared_memory.SharedMemory] = []
        # Each Pool, with every worker process it started (replacements included).
        self._pools: List[Tuple[multiprocessing.pool.Pool, List[Any]]] = []
        self._cleanups: List[Callable[[], None]] = []
        self._bookkeeping: List[Any] = []  # kept alive: control recognises them by identity

    # -- synchronised and raw shared memory ------------------------------------------

    def Value(self, typecode: str, value: Any = 0, *, lock: bool = True) -> Any:  # noqa: N802
        return self.context.Value(typecode, value, lock=lock)

    def Array(  # noqa: N802
        self, typecode: str, size_or_values: Union[int, Sequence[Any]], *, lock: bool = True
    ) -> Any:
        return self.context.Array(typecode, size_or_values, lock=lock)

    def Lock(self) -> Any:  # noqa: N802
        return self.context.Lock()

    def RLock(self) -> Any:  # noqa: N802
        return self.context.RLock()

    def Semaphore(self, value: int = 1) -> Any:  # noqa: N802
        return self.context.Semaphore(value)

    def BoundedSemaphore(self, value: int = 1) -> Any:  # noqa: N802
        """A Semaphore whose release past its initial value raises ValueError."""
        return self.context.BoundedSemaphore(value)

    def Event(self) -> Any:  # noqa: N802
        return self.context.Event()

    def Condition(self, lock: Any = None) -> Any:  # noqa: N802
        return self.context.Condition(lock)

    def Barrier(self, parties: int, action: Optional[Callable[[], Any]] = None,  # noqa: N802
                timeout: Optional[float] = None) -> Any:
        return self.context.Barrier(parties, action, timeout)

    def Queue(self, maxsize: int = 0) -> Any:  # noqa: N802
        return self.context.Queue(maxsize)

    def JoinableQueue(self, maxsize: int = 0) -> Any:  # noqa: N802
        return self.context.JoinableQueue(maxsize)

    def SimpleQueue(self) -> Any:  # noqa: N802
        return self.context.SimpleQueue()

    def shared_memory(self, size: int) -> shared_memory.SharedMemory:
        """A zero-filled ``SharedMemory`` block, unlinked when the run ends."""
        block = shared_memory.SharedMemory(create=True, size=size)
        self._blocks.append(block)
        view = block.buf
        assert view is not None  # None only after close()
        view[:size] = bytes(size)
        return block

    def bookkeeping(self, shared: T) -> T:
        """Mark ``shared`` (and everything inside it) as the scenario's own bookkeeping:
        statistics the test records about the code under test, not that code's state.
        Returns ``shared`` itself, unchanged. The stress runner ignores the mark; under
        control its reads, writes, acquires and releases are not scheduling points, and it
        is still reset between schedules and read by observe/check. A bookkeeping lock must
        not be held across a visible operation of the code under test."""
        self._bookkeeping.append(shared)
        return shared

    def marked_bookkeeping(self) -> FrozenSet[int]:
        """The identities of what :meth:`bookkeeping` marked."""
        return frozenset(id(shared) for shared in self._bookkeeping)

    # -- servers and pools -------------------------------------------------------------

    def manager(self) -> multiprocessing.managers.SyncManager:
        """One started ``SyncManager`` per run; its server process is shut down at close."""
        if self._manager is None:
            manager = RacecourseManager(ctx=self.context)
            with starting_children(self.start_method):
                manager.start(functools.partial(leave_signals_to_parent, die_with_parent=True))
            self._manager = manager
        return self._manager

    def server_pid(self) -> Optional[int]:
        """The process id of this run's own Manager server, if it started one."""
        process = getattr(self._manager, "_process", None)
        return None if process is None else process.pid

    def remote_manager(self) -> "RemoteManager":
        """A ``RemoteManager`` client: to a server of this run's own on 127.0.0.1 with a fresh
        authkey, shut down at close, or to the one the run was told to connect to.
        Workers connect to it themselves with its ``address`` and ``remote_authkey()``."""
        if self._remote is None:
            self._remote = self._remote_server(self.context, self.start_method)
        return self._remote.manager

    def remote_authkey(self) -> bytes:
        """The authkey of ``remote_manager()``'s server, for workers that connect to it."""
        self.remote_manager()
        assert self._remote is not None
        return self._remote.authkey

    def lost_servers(self, wait: float = 0.0) -> List[Tuple[str, str, str]]:
        """Servers of this run that stopped while it ran: (who, kind, what happened).
        ``wait``: how long a server may take to finish dying (when a client lost it)."""
        lost = []
        remote = self._remote.manager if self._remote is not None else None
        for name, manager in (("Manager", self._manager), ("remote Manager", remote)):
            process = getattr(manager, "_process", None)
            if manager is None or process is None:
                continue
            if process.exitcode is None:
                # A client sees its connection reset while the server is still exiting:
                # for a moment it may still accept on its listener, and cannot be reaped.
                process.join(wait if _answers(manager.address) else max(wait, _REAP_SECONDS))
            if process.exitcode is not None:
                kind, what = describe_exit(process.exitcode)
                lost.append((f"the {name} server (pid {process.pid})", kind, what))
        if self._remote is not None:
            lost += self._remote.lost()
        return lost

    def Pool(  # noqa: N802
        self,
        processes: int,
        initializer: Optional[Callable[..., Any]] = None,
        initargs: Sequence[Any] = (),
        **kwargs: Any,
    ) -> multiprocessing.pool.Pool:
        # Pool workers leave Ctrl-C to the parent, which terminates them (otherwise each
        # prints a KeyboardInterrupt traceback of its own). Replacements for workers that
        # exit are started by the Pool's own thread, hence the initializer as well.
        workers: List[Any] = []
        with starting_children(self.start_method):
            start = (initializer, tuple(initargs))
            pool = multiprocessing.pool.Pool(
                processes, _pool_worker_start, start, context=_RecordingContext(self.context, workers), **kwargs
            )
        self._pools.append((pool, workers))
        return pool

    def killed_pool_workers(self) -> List[Tuple[str, str, str]]:
        """Workers of a Pool still in use that a signal killed: (who, kind, what happened).

        A Pool replaces such a worker and drops the task it was running, so ``map`` waits
        for that task forever; this is how the run can say why. Workers of a terminated
        Pool are left out: ``terminate()`` kills them itself. Only workers the Pool has
        reaped and dropped from its own list are looked at: their exit status is settled,
        and polling a live worker here could race the Pool's own thread, which polls it too
        (two readers of a forkserver child's status pipe: one of them reads nothing).
        """
        killed = []
        for pool, workers in self._pools:
            if pool._state != multiprocessing.pool.RUN:  # type: ignore[attr-defined]
                continue
            alive = pool._pool  # type: ignore[attr-defined]
            for worker in workers:
                if worker in alive or worker._popen is None:
                    continue
                if worker.exitcode is not None and worker.exitcode < 0:
                    killed.append((f"the Pool worker {worker.name} (pid {worker.pid})", *describe_exit(worker.exitcode)))
        return killed

    def Process(self, **kwargs: Any) -> Any:  # noqa: N802
        return self.context.Process(**kwargs)

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` when the run ends (for state a scenario builds by hand)."""
        self._cleanups.append(cleanup)

    def close(self) -> None:
        """Tear down everything this Share made. Safe to call twice."""
        errors: List[BaseException] = []
        for cleanup in reversed(self._cleanups):
            _attempt(cleanup, errors)
        self._cleanups.clear()
        for pool, _ in self._pools:
            _attempt(functools.partial(_stop_pool, pool), errors)
        self._pools.clear()
        if self._manager is not None:
            _attempt(self._manager.shutdown, errors)
            self._manager = None
        if self._remote is not None:
            _attempt(self._remote.close, errors)
            self._remote = None
        for block in self._blocks:
            _attempt(block.close, errors)
            _attempt(block.unlink, errors)
        self._blocks.clear()
        # Named semaphores (spawn, forkserver) are unlinked by finalizers that run when
        # their Lock objects are collected; collect now rather than at some later point.
        gc.collect()
        if errors:
            raise errors[0]

    def __enter__(self) -> "Share":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_REAP_SECONDS = 1.0


def _answers(address: Any) -> bool:
    """Whether something accepts connections at a Manager's address (a path or host, port)."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family) as probe:
        probe.settimeout(_REAP_SECONDS)
        try:
            probe.connect(address)
        except OSError:
            return False
    return True


def _stop_pool(pool: multiprocessing.pool.Pool) -> None:
    """An idle Pool's workers are asked to finish, and end the way finished processes do
    (coverage keeps what they ran); any still busy or stuck after a moment, and every
    worker of a Pool with tasks outstanding (a failed or interrupted run), is terminated."""
    if not pool._cache:  # type: ignore[attr-defined]  # the tasks not yet answered
        pool.close()
        deadline = time.monotonic() + _POOL_FINISH_SECONDS
        for worker in list(pool._pool):  # type: ignore[attr-defined]
            worker.join(max(0.0, deadline - time.monotonic()))
    pool.terminate()  # nothing left to stop when every worker already finished
    # terminate() runs once per Pool (its own `with` block may have run it already) and
    # trusts SIGTERM; a worker still alive after it is killed, so join() cannot hang.
    stop_processes(list(pool._pool))  # type: ignore[attr-defined]
    pool.join()


# Starting workers is not part of the race, and a loaded machine can take seconds over it
# (under spawn each one is a fresh interpreter importing the scenario; PyPy is slower
# still). So a trial's timeout counts from the start line (under control, from the first
# step), and a worker that never got there, which has shown neither a hang nor a
# deadlock, is reported as not started, after at least this long.
STARTUP_SECONDS = 60.0


def startup_allowance(timeout: float) -> float:
    """How long the workers of a trial with this timeout may take to reach the start line."""
    return max(timeout, STARTUP_SECONDS)


def stop_processes(processes: Sequence[Any], grace: float = _REAP_SECONDS) -> None:
    """Terminate, then kill, then reap every process still alive."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


_POOL_FINISH_SECONDS = 5.0


class _RecordingContext:
    """A start-method context that also keeps every Process made through it: given to a
    Pool, it sees the Pool's workers, replacements included (the Pool drops a dead worker
    from its own list once it has reaped it, exit status and all)."""

    def __init__(self, context: Any, made: List[Any]):
        self._context = context
        self._made = made

    def Process(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        process = self._context.Process(*args, **kwargs)
        self._made.append(process)
        return process

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _pool_worker_start(initializer: Optional[Callable[..., Any]], initargs: Tuple[Any, ...]) -> None:
    leave_signals_to_parent()
    if initializer is not None:
        initializer(*initargs)


def set_semaphore_count(semaphore: Any, count: int) -> None:
    """Bring a semaphore's count to ``count`` (between trials or schedules: nobody waits on it)."""
    if is_proxy(semaphore):
        while semaphore.acquire(False):  # its count is not readable: take every unit, give back count
            pass
        for _ in range(count):
            semaphore.release()
        return
    while semaphore.get_value() > count and semaphore.acquire(False):
        pass
    while semaphore.get_value() < count:
        semaphore.release()


def is_proxy(value: Any) -> bool:
    """Whether ``value`` is a Manager's proxy (its state lives on the Manager's server)."""
    return isinstance(value, multiprocessing.managers.BaseProxy)


def semaphore_count(semaphore: Any) -> int:
    """A semaphore's count now (nobody waits on it). A Manager's semaphore does not tell its
    count (its proxy has acquire and release only): every unit is taken, counted and given back."""
    if not is_proxy(semaphore):
        return int(semaphore.get_value())
    count = 0
    while semaphore.acquire(False):
        count += 1
    for _ in range(count):
        semaphore.release()
    return count


def semaphore_bound(semaphore: Any) -> Optional[int]:
    """The initial value of a BoundedSemaphore (what its count may not exceed), None for a
    Semaphore. A Manager's is found by releasing until it refuses, then taking back as many."""
    if not is_proxy(semaphore):
        if not isinstance(semaphore, multiprocessing.synchronize.BoundedSemaphore):
            return None
        semlock = semaphore._semlock  # type: ignore[attr-defined]  # not in typeshed's stubs
        return int(getattr(semlock, "maxvalue", semaphore.get_value()))  # else: as build left it
    if semaphore._token.typeid != "BoundedSemaphore":
        return None
    count, extra = semaphore_count(semaphore), 0
    try:
        while True:
            semaphore.release()
            extra += 1
    except ValueError:
        pass
    for _ in range(extra):
        semaphore.acquire(False)
    return count + extra


# -- the Manager that share.manager() starts -------------------------------------------------


class ScheduledBarrier(threading.Barrier):
    """The object behind a ``share.manager().Barrier()`` on the Manager's server: a
    threading.Barrier, as SyncManager makes, with two more calls for racecourse's controlled
    runs, where the parent decides when each waiter goes on and nobody waits in the server:
    ``arrive()`` counts an arrival and returns its index (the last runs the action), and
    ``restart()`` makes it as new (nobody arrived, not broken) between two schedules."""

    def arrive(self) -> int:
        state: Any = self  # threading.Barrier's private state, which typeshed does not declare
        with state._cond:
            if state._state == _BARRIER_BROKEN:
                raise threading.BrokenBarrierError
            index = int(state._count)
            last = index + 1 == state._parties
            state._count = 0 if last else index + 1
        if last and state._action is not None:
            state._action()
        return index

    def restart(self) -> None:
        state: Any = self
        with state._cond:
            state._state = 0
            state._count = 0


_BARRIER_BROKEN = -2  # threading.Barrier's _state when broken
_managers: Any = multiprocessing.managers  # the proxy classes are made at run time: typeshed does not know them


class ScheduledBarrierProxy(_managers.BarrierProxy):  # type: ignore[misc]
    _exposed_ = _managers.BarrierProxy._exposed_ + ("arrive", "restart")

    def arrive(self) -> int:
        return int(self._callmethod("arrive"))

    def restart(self) -> None:
        self._callmethod("restart")


class ConditionWithLockProxy(_managers.ConditionProxy):  # type: ignore[misc]
    """A Manager Condition's proxy that knows the lock it was made over (None: its own), in
    every process it reaches: control needs to know which lock its wait releases."""

    def __init__(self, *args: Any, lock: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.made_over = lock

    def __reduce__(self) -> Any:
        rebuild, (proxy_type, token, serializer, kwds) = super().__reduce__()
        return rebuild, (proxy_type, token, serializer, dict(kwds, lock=self.made_over))


class RacecourseManager(multiprocessing.managers.SyncManager):
    """The SyncManager of ``share.manager()``: the same objects, with what control needs to
    know about them and cannot ask their server (a Queue's bound, a Condition's lock) kept
    on their proxies, and a Barrier that control can count arrivals at without waiting."""

    def Queue(self, maxsize: int = 0) -> Any:  # noqa: N802
        proxy: Any = super().Queue(maxsize)
        proxy._maxsize = maxsize
        return proxy

    def JoinableQueue(self, maxsize: int = 0) -> Any:  # noqa: N802
        proxy: Any = super().JoinableQueue(maxsize)
        proxy._maxsize = maxsize
        return proxy

    def Condition(self, lock: Any = None) -> Any:  # noqa: N802
        proxy: Any = super().Condition(lock)
        proxy.__class__ = ConditionWithLockProxy
        proxy.made_over = lock
        return proxy


RacecourseManager.register("Barrier", ScheduledBarrier, ScheduledBarrierProxy)


def _attempt(step: Callable[[], Any], errors: List[BaseException]) -> None:
    try:
        step()
    except FileNotFoundError:
        pass  # already unlinked
    except Exception as error:  # keep tearing down the rest
        errors.append(error)
