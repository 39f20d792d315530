"""locked-array: the fix for raw-array, holding the Array's own lock.

What is shared: ``Array("i", SLOTS)``. Made without ``lock=False``, the array is wrapped
in a synchronizer that carries a lock, ``counts.get_lock()``. Every worker increments
every slot, ``ops`` times over.

Why it is safe: ``with counts.get_lock():`` is held across the whole
``counts[slot] += 1``: the read of the slot, the addition and the write. No other process
can read that slot in between, so no increment is lost. The lock is recursive, which is
why the locked reads and writes inside the block do not deadlock against it.

As with ``synchronized-value``, the lock alone is not enough: each ``counts[slot]`` read
and each write takes it separately, and the ``+=`` without the ``with`` races just like
``raw-array``, the racy twin this fixes.
"""

from racecourse import Defaults, Expect, Scenario

SLOTS = 4


def build(share):
    return {"counts": share.Array("i", SLOTS)}


def worker(counts, ops):
    for _ in range(ops):
        for slot in range(len(counts)):
            with counts.get_lock():  # the whole read-add-write of the slot is one step
                counts[slot] += 1


def observe(counts):
    return sum(counts)


def expected(processes, ops):
    return SLOTS * processes * ops  # every process adds one to every slot, ops times


SCENARIO = Scenario(
    id="locked-array",
    title="Array() with += on every slot under get_lock()",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    observe=observe,
    expected=expected,
    defaults=Defaults(processes=2, ops=5_000),
)
