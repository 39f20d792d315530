"""own-slot-array: no lock, and no race: each process counts in a slot of its own.

What is shared: ``Array("i", processes, lock=False)``, one C int per process, with no
lock. Worker ``index`` increments ``counts[index]`` and nothing else; the parent adds
the slots up at the end.

Why it is safe: a lost update needs two processes to read and write the same memory.
Here every slot has exactly one writer, so between a worker's read of its slot and its
write, nobody else can have changed it. ``counts[index] += 1`` is still a separate read
and write, but there is no one to interleave with. Partitioning the work so that no data
is shared while it runs, and combining the parts afterwards in one process, is the
cheapest fix of all: no lock to wait for.

It fixes ``raw-array``, where every process increments every slot. ``pool-map`` uses the
same idea with return values instead of shared memory.
"""

from racecourse import Defaults, Expect, Scenario


def build(share, processes):
    return {"counts": share.Array("i", processes, lock=False)}  # one slot per process


def worker(counts, ops, index):
    for _ in range(ops):
        counts[index] += 1  # only this process ever touches counts[index]


def observe(counts):
    return sum(counts)  # the parent combines the parts once every worker is done


SCENARIO = Scenario(
    id="own-slot-array",
    title="Array(lock=False): each process += its own slot, the parent sums",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=50_000),
)
