"""pool-initializer-value: a Value handed to Pool workers by their initializer, then +=.

What is shared: ``Value("i", 0)``. A synchronized Value may only reach another process
by inheritance, so it cannot travel as a task argument (see ``pool-arg-value``); the
usual way in is ``Pool(initializer=install, initargs=(counter,))``. ``install`` runs once
in each worker process as it starts and stores the Value in a module global, ``COUNTER``,
which the task function then uses. Each task processes one item and counts it:
``COUNTER.value += 1``.

What goes wrong: ``COUNTER.value += 1`` is a read and then a separate write. The Value's
lock is taken for the read and released, then taken for the write: in between, another
worker can read the same old count, and both write the same new one. Items are all
processed, but the count comes out short. This is ``synchronized-value`` inside a Pool.

The safe twin, ``pool-initializer-locked``, holds ``COUNTER.get_lock()`` around the
whole ``+=``. ``pool-map`` avoids the shared counter altogether.
"""

from racecourse import Defaults, Expect, Scenario

COUNTER = None  # set in each Pool worker by install()


def install(counter):
    global COUNTER
    COUNTER = counter


def work(item):
    COUNTER.value += 1  # read, then write: another worker can read in between


def build(share):
    return {"counter": share.Value("i", 0)}


def program(share, counter, processes, ops):
    with share.Pool(processes, initializer=install, initargs=(counter,)) as pool:
        pool.map(work, range(processes * ops))


def observe(counter):
    return counter.value


SCENARIO = Scenario(
    id="pool-initializer-value",
    title="Value installed by a Pool initializer, += in the tasks",
    expect=Expect.RACY,
    build=build,
    program=program,
    observe=observe,
    defaults=Defaults(processes=2, ops=100_000),
)
