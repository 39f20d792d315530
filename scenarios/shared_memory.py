"""shared-memory: a counter in a ``multiprocessing.shared_memory`` block, with no lock.

What is shared: ``SharedMemory(create=True, size=4)``, a named block of raw bytes that
every process maps. There is no type and no lock: each worker views the bytes as one C
int with ``block.buf.cast("i")`` and increments it.

What goes wrong: ``counter[0] += 1`` on the memoryview reads the int (say 41), adds one,
and writes 42 back. If another process reads 41 between that read and that write, both
write 42, and an increment is lost. It is exactly ``raw-value`` without the ctypes
wrapper.

Note the ``release()``: a memoryview made from ``block.buf`` keeps the mapping exported,
and ``SharedMemory.close()`` refuses to unmap memory that a view still points into.

The safe twin, ``shared-memory-locked``, holds a ``Lock()`` across the whole ``+=``.
"""

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"block": share.shared_memory(4)}  # zero-filled: the count starts at 0


def worker(block, ops):
    counter = block.buf.cast("i")  # the four bytes, seen as one C int
    try:
        for _ in range(ops):
            counter[0] += 1  # read, add, write: another process can run in between
    finally:
        counter.release()  # let the block be closed


def observe(block):
    counter = block.buf.cast("i")
    try:
        return counter[0]
    finally:
        counter.release()


SCENARIO = Scenario(
    id="shared-memory",
    title="shared_memory.SharedMemory: += through a memoryview, no lock",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=500_000),
)
