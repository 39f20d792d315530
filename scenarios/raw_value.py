"""raw-value: a counter in shared memory with no lock at all.

What is shared: one C int, made with ``Value("i", 0, lock=False)``. Every process sees
the same four bytes.

What goes wrong: ``counter.value += 1`` is not one step. Python reads the value (say 41),
adds one, and writes 42 back. If another process reads 41 between that read and that
write, both write 42: two increments happened, the counter moved by one. The update of
the process that wrote first is lost.

The safe twins: ``lock-value`` holds a separate ``Lock`` around the whole
read-add-write, and ``locked-value`` uses the lock that ``Value()`` carries.
"""

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"counter": share.Value("i", 0, lock=False)}


def worker(counter, ops):
    for _ in range(ops):
        counter.value += 1  # read, add, write: another process can run in between


def observe(counter):
    return counter.value


SCENARIO = Scenario(
    id="raw-value",
    title="Value(lock=False): += with no lock",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=500_000),
)
