"""Builders for each kind of shared state, bound to one start method.

A scenario's ``build`` receives a :class:`Share` and asks it for what it shares:
``share.Value("i", 0, lock=False)``, ``share.manager().dict()``, ``share.shared_memory(8)``.
The Share remembers everything that needs tearing down (Manager servers, shared-memory
blocks, Pools) and :meth:`Share.close` removes all of it, on every path.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.managers
import multiprocessing.pool
from multiprocessing import shared_memory
from typing import Any, Callable, List, Optional, Sequence, Union


def available_start_methods() -> List[str]:
    return list(multiprocessing.get_all_start_methods())


def default_start_method() -> str:
    """The interpreter's own default (fork on Linux before 3.14, forkserver from 3.14)."""
    method = multiprocessing.get_start_method(allow_none=True)
    if method is None:
        method = multiprocessing.get_context().get_start_method()
    return method


class Share:
    """Makes shared objects for one run and cleans all of them up afterwards."""

    def __init__(self, start_method: Optional[str] = None) -> None:
        self.start_method = start_method or default_start_method()
        # Any: typeshed's BaseContext lacks Process, which every concrete context has.
        self.context: Any = multiprocessing.get_context(self.start_method)
        self._manager: Optional[multiprocessing.managers.SyncManager] = None
        self._blocks: List[shared_memory.SharedMemory] = []
        self._pools: List[multiprocessing.pool.Pool] = []
        self._cleanups: List[Callable[[], None]] = []

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

    def shared_memory(self, size: int) -> shared_memory.SharedMemory:
        """A zero-filled ``SharedMemory`` block, unlinked when the run ends."""
        block = shared_memory.SharedMemory(create=True, size=size)
        self._blocks.append(block)
        view = block.buf
        assert view is not None  # None only after close()
        view[:size] = bytes(size)
        return block

    # -- servers and pools -------------------------------------------------------------

    def manager(self) -> multiprocessing.managers.SyncManager:
        """One started ``SyncManager`` per run; its server process is shut down at close."""
        if self._manager is None:
            self._manager = self.context.Manager()
        return self._manager

    def Pool(self, processes: int, **kwargs: Any) -> multiprocessing.pool.Pool:  # noqa: N802
        pool: multiprocessing.pool.Pool = self.context.Pool(processes, **kwargs)
        self._pools.append(pool)
        return pool

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
        for pool in self._pools:
            _attempt(pool.terminate, errors)
            _attempt(pool.join, errors)
        self._pools.clear()
        if self._manager is not None:
            _attempt(self._manager.shutdown, errors)
            self._manager = None
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


def _attempt(step: Callable[[], Any], errors: List[BaseException]) -> None:
    try:
        step()
    except FileNotFoundError:
        pass  # already unlinked
    except Exception as error:  # keep tearing down the rest
        errors.append(error)
