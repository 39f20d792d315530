"""locked-value: the fix for synchronized-value, holding the Value's own lock.

What is shared: ``Value("i", 0)``, which carries a lock (``counter.get_lock()``).

Why it is safe: ``with counter.get_lock():`` is held across the whole
``counter.value += 1``: the read, the addition and the write. No other process can read
the counter between this process's read and its write, so no increment is lost. The
lock is recursive, which is why the locked reads and writes inside the block do not
deadlock against it.

Compare ``synchronized-value``: the same Value, the same ``+=``, but without the
``with`` it loses updates.
"""

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"counter": share.Value("i", 0)}


def worker(counter, ops):
    for _ in range(ops):
        with counter.get_lock():  # the whole read-add-write is one critical section
            counter.value += 1


def observe(counter):
    return counter.value


SCENARIO = Scenario(
    id="locked-value",
    title="Value() with += under get_lock()",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=10_000),
)
