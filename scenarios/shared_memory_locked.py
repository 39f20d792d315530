"""shared-memory-locked: the fix for shared-memory, with a Lock around each increment.

What is shared: a ``SharedMemory(create=True, size=4)`` block, viewed by every worker as
one C int through ``block.buf.cast("i")``, and one ``Lock()``. Shared memory carries no
lock of its own, so the lock is a separate object, passed to every worker by
inheritance.

Why it is safe: ``with lock:`` is held across the whole ``counter[0] += 1``: the read,
the addition and the write. Another process that wants to increment waits at the
``with`` until this one has written, so it always reads the latest count.

It fixes ``shared-memory``, the same block with the same ``+=`` and no lock.
"""

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"block": share.shared_memory(4), "lock": share.Lock()}


def worker(block, lock, ops):
    counter = block.buf.cast("i")  # the four bytes, seen as one C int
    try:
        for _ in range(ops):
            with lock:  # nobody else reads or writes the count until this write is done
                counter[0] += 1
    finally:
        counter.release()  # let the block be closed


def observe(block):
    counter = block.buf.cast("i")
    try:
        return counter[0]
    finally:
        counter.release()


SCENARIO = Scenario(
    id="shared-memory-locked",
    title="shared_memory.SharedMemory: += through a memoryview under a Lock()",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=10_000),
)
