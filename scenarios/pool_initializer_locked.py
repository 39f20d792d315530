"""pool-initializer-locked: the fix for pool-initializer-value, under get_lock().

What is shared: ``Value("i", 0)``, handed to each Pool worker by its initializer
(``Pool(initializer=install, initargs=(counter,))``), which stores it in the module
global ``COUNTER``. Each task processes one item and counts it.

Why it is safe: ``with COUNTER.get_lock():`` is held across the whole
``COUNTER.value += 1``: the read, the addition and the write. No other worker can read
the count between this worker's read and its write, so every item is counted. The lock
is recursive, which is why the locked read and write inside the block do not deadlock
against it. The lock reached the workers the same way as the Value, by inheritance: it
is part of the Value.

It fixes ``pool-initializer-value``, which does the same ``+=`` without the ``with``.
"""

from racecourse import Defaults, Expect, Scenario

COUNTER = None  # set in each Pool worker by install()


def install(counter):
    global COUNTER
    COUNTER = counter


def work(item):
    with COUNTER.get_lock():  # the whole read-add-write is one critical section
        COUNTER.value += 1


def build(share):
    return {"counter": share.Value("i", 0)}


def program(share, counter, processes, ops):
    with share.Pool(processes, initializer=install, initargs=(counter,)) as pool:
        pool.map(work, range(processes * ops))


def observe(counter):
    return counter.value


SCENARIO = Scenario(
    id="pool-initializer-locked",
    title="Value installed by a Pool initializer, += under get_lock()",
    expect=Expect.SAFE,
    build=build,
    program=program,
    observe=observe,
    defaults=Defaults(processes=2, ops=10_000),
)
