"""raw-array: an array of counters in shared memory, with no lock.

What is shared: ``Array("i", SLOTS, lock=False)``, a C array of ints that every process
sees. Every worker increments every slot, ``ops`` times over.

What goes wrong: ``counts[slot] += 1`` is a read of the slot (say 41), an addition, and a
write (42). If another process reads the same slot between this read and this write, both
write 42 and one increment is lost. An array is just several counters side by side: each
slot races on its own exactly like ``raw-value``. The total, the sum of the slots, comes
out short of ``SLOTS x processes x ops``.

The safe twin, ``locked-array``, makes the array with its lock (``Array("i", SLOTS)``)
and holds ``counts.get_lock()`` around every ``+=``. ``own-slot-array`` avoids the race
another way: each process writes only its own slot.
"""

from racecourse import Defaults, Expect, Scenario

SLOTS = 4


def build(share):
    return {"counts": share.Array("i", SLOTS, lock=False)}


def worker(counts, ops):
    for _ in range(ops):
        for slot in range(len(counts)):
            counts[slot] += 1  # read the slot, add, write it back: another process fits between


def observe(counts):
    return sum(counts)


def expected(processes, ops):
    return SLOTS * processes * ops  # every process adds one to every slot, ops times


SCENARIO = Scenario(
    id="raw-array",
    title="Array(lock=False): every process += every slot",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    observe=observe,
    expected=expected,
    defaults=Defaults(processes=2, ops=100_000),
)
