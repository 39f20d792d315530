"""The ways of sharing a counter that ``racecourse bench`` prices, one increment at a time.

Each strategy builds its shared objects with a :class:`racecourse.sharing.Share` and has a
worker that adds ``ops`` to the counter. Workers are module-level functions, so spawn and
forkserver children import them by name. Pool map-reduce has no worker of its own: the
Pool's processes count and return, and the parent adds the parts up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from ..sharing import Share

Shared = Dict[str, Any]


def raw_value(counter: Any, ops: int) -> None:
    for _ in range(ops):
        counter.value += 1


def value_get_lock(counter: Any, ops: int) -> None:
    for _ in range(ops):
        with counter.get_lock():
            counter.value += 1


def separate_lock(counter: Any, lock: Any, ops: int) -> None:
    for _ in range(ops):
        with lock:
            counter.value += 1


def array_slot(counts: Any, ops: int) -> None:
    for _ in range(ops):
        counts[0] += 1


def shared_memory_int(block: Any, ops: int) -> None:
    counter = block.buf.cast("i")
    try:
        for _ in range(ops):
            counter[0] += 1
    finally:
        counter.release()  # let the block be closed


def manager_value(counter: Any, ops: int) -> None:
    for _ in range(ops):
        counter.value += 1  # two requests to the server: a get and a set


def manager_dict(counts: Any, ops: int) -> None:
    for _ in range(ops):
        counts["n"] += 1  # two requests: __getitem__ and __setitem__


def manager_dict_locked(counts: Any, lock: Any, ops: int) -> None:
    for _ in range(ops):
        with lock:  # two more requests: acquire and release
            counts["n"] += 1


def local_then_add(counter: Any, ops: int) -> None:
    local = 0
    for _ in range(ops):
        local += 1
    with counter.get_lock():  # one locked add for the whole batch
        counter.value += local


def count_locally(ops: int) -> int:
    """A Pool task: count in a local variable and return the part."""
    local = 0
    for _ in range(ops):
        local += 1
    return local


@dataclass(frozen=True)
class Strategy:
    name: str
    build: Callable[[Share], Shared]
    worker: Optional[Callable[..., None]]  # None: the Pool map-reduce, run from the parent
    ops: int  # increments per process taking about 20 ms on an unloaded core; a Plan scales it


STRATEGIES: List[Strategy] = [
    Strategy("raw Value", lambda s: {"counter": s.Value("i", 0, lock=False)}, raw_value, 200_000),
    Strategy("Value + get_lock", lambda s: {"counter": s.Value("i", 0)}, value_get_lock, 40_000),
    Strategy("separate Lock", lambda s: {"counter": s.Value("i", 0, lock=False), "lock": s.Lock()}, separate_lock, 40_000),
    Strategy("Array slot", lambda s: {"counts": s.Array("i", 4, lock=False)}, array_slot, 200_000),
    Strategy("shared_memory", lambda s: {"block": s.shared_memory(8)}, shared_memory_int, 200_000),
    Strategy("Manager Value", lambda s: {"counter": s.manager().Value("i", 0)}, manager_value, 400),
    Strategy("Manager dict", lambda s: {"counts": s.manager().dict({"n": 0})}, manager_dict, 400),
    Strategy("Manager dict + Lock", lambda s: {"counts": s.manager().dict({"n": 0}), "lock": s.manager().Lock()},
             manager_dict_locked, 200),
    Strategy("local + one locked add", lambda s: {"counter": s.Value("i", 0)}, local_then_add, 1_000_000),
    Strategy("Pool map-reduce", lambda s: {}, None, 1_000_000),
]

RAW = STRATEGIES[0].name
