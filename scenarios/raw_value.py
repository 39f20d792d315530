"""raw-value: a counter in shared memory with no lock at all.

What is shared: one C int, made with ``Value("i", 0, lock=False)``. Every process sees
the same four bytes.

What goes wrong: ``counter.value += 1`` is not one step. Python reads the value (say 41),
adds one, and writes 42 back. If another process reads 41 between that read and that
write, both write 42: two increments happened, the counter moved by one. The update of
the process that wrote first is lost.

The safe twins: ``lock-value`` holds a separate ``Lock`` around the whole
read-add-write, and ``locked-value`` uses the lock that ``Value()`` carries.

Which counts can come out, graded as jcstress grades outcomes. Every increment counted
is acceptable. Fewer is the interesting outcome, the lesson itself, but not every count
is possible: each write stores a value some process read, plus one, so the count never
passes the number of increments made, and with two or more processes it never ends
below 1 (one increment each) or below 2 (two or more each: the process that writes last
read a value that its own first write had already raised to at least 1). Anything
outside that range would be a bug in the machine, or in racecourse, and is forbidden.
"""

from racecourse import Acceptable, Defaults, Expect, Interesting, Scenario


def build(share):
    return {"counter": share.Value("i", 0, lock=False)}


def worker(counter, ops):
    for _ in range(ops):
        counter.value += 1  # read, add, write: another process can run in between


def observe(counter):
    return counter.value


def fewest(processes, ops):
    """The smallest count any interleaving can leave (the lesson says why)."""
    return ops if processes == 1 else min(ops, 2)


OUTCOMES = (
    Acceptable("every increment counted", when=lambda observed, expected: observed == expected),
    Interesting("lost updates: two processes read the same value, and both wrote it back plus one",
                when=lambda observed, expected, processes, ops: fewest(processes, ops) <= observed < expected),
)


SCENARIO = Scenario(
    id="raw-value",
    title="Value(lock=False): += with no lock",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    observe=observe,
    outcomes=OUTCOMES,  # anything else is forbidden
    defaults=Defaults(processes=2, ops=500_000),
)
