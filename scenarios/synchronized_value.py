"""synchronized-value: the classic gotcha, a Value that has a lock and still races.

What is shared: ``Value("i", 0)``. Unlike ``lock=False``, this Value is wrapped in a
synchronizer with its own lock, so it looks safe.

What goes wrong: the lock is taken separately for the read and for the write.
``counter.value += 1`` is ``tmp = counter.value`` (lock, read, unlock) followed by
``counter.value = tmp + 1`` (lock, write, unlock). Between the two, another process can
take the lock, read the same old value and write the same new one. Each access is
atomic; the increment is not. Updates are lost just as with no lock at all, only more
slowly.

The safe twin, ``locked-value``, holds ``counter.get_lock()`` around the whole
read-add-write so that nothing can run between the read and the write.
"""

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"counter": share.Value("i", 0)}


def worker(counter, ops):
    for _ in range(ops):
        counter.value += 1  # locked read, then locked write: the gap between them races


def observe(counter):
    return counter.value


SCENARIO = Scenario(
    id="synchronized-value",
    title="Value() with its lock, += without get_lock()",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=100_000),
)
