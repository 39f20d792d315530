"""global-counter: a module-global counter, incremented in the children, is never shared.

What is shared: nothing. ``COUNT`` is a module-level int, and every worker does
``global COUNT; COUNT += 1``, ``ops`` times.

What happens: each process has its own memory. Under fork, each child starts with a copy
of the parent's globals and increments its copy; under spawn and forkserver, each child
imports the module afresh and increments its own new ``COUNT``. Either way, the parent's
``COUNT`` is never touched: after all the increments in the children, the parent reads
0. No update is "lost" to a race, because none was ever shared. (The declared expected
count is therefore 0, and the run is exact: it is the surprise, not the count, that is
the lesson.)

To share a count between processes it must live in memory the processes share: a
``Value`` (``locked-value``), an ``Array``, a ``shared_memory`` block, or a Manager. Or
each child returns its count and the parent adds them up (``pool-map``).
"""

from racecourse import Defaults, Expect, Scenario

COUNT = 0  # every process has its own


def build():
    return {}


def worker(ops):
    global COUNT
    for _ in range(ops):
        COUNT += 1  # this process's copy: the parent never sees it


def observe():
    return COUNT  # the parent's copy


def expected(processes, ops):
    return 0  # nothing was shared: the parent's COUNT is unchanged


SCENARIO = Scenario(
    id="global-counter",
    title="a module-global int += in the children: the parent sees 0",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    observe=observe,
    expected=expected,
    defaults=Defaults(processes=2, ops=10_000),
)
