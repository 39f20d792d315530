"""lock-value: a raw counter guarded by a separate Lock.

What is shared: one C int made with ``Value("i", 0, lock=False)`` (no lock of its own)
and one ``Lock()``. Both reach every worker by inheritance, as Process arguments.

Why it is safe: ``with lock:`` is held across the whole ``counter.value += 1``: the read,
the addition and the write. A second process that wants to increment waits at the
``with`` until the first has written, so it always reads the latest value and no
increment is lost. The lock protects the counter only because every process takes the
same lock around every access; the Value itself knows nothing about it.

It fixes ``raw-value`` (the same counter, ``+=`` with no lock). ``locked-value`` does the
same with the lock that ``Value()`` carries (``counter.get_lock()``).
"""

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"counter": share.Value("i", 0, lock=False), "lock": share.Lock()}


def worker(counter, lock, ops):
    for _ in range(ops):
        with lock:  # read, add and write happen while no other process can get in
            counter.value += 1


def observe(counter):
    return counter.value


SCENARIO = Scenario(
    id="lock-value",
    title="Value(lock=False) with += under a separate Lock()",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=10_000),
)
