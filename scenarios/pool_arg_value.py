"""pool-arg-value: a synchronized Value passed as a map argument raises RuntimeError.

What is shared: nothing, in the end. The program tries to give every task the counter
as its argument, ``pool.map(add, [counter] * processes)``.

What goes wrong: a Pool sends task arguments to its workers by pickling them through a
queue, long after the workers were started. A ``Value`` (or ``Array``, or ``Lock``) is a
handle on memory and a semaphore that only the processes created from its owner can
use, so it refuses to be pickled except while a child process is being started:
``RuntimeError: Synchronized objects should only be shared between processes through
inheritance``. The error is raised by the Pool's task thread in the parent and re-raised
by ``map()``; no task ever runs. The same happens with a ``Queue``.

The fix is to hand the Value over by inheritance: as a ``Process`` argument, or with a
Pool initializer, as ``pool-initializer-locked`` does (and then to hold its lock around
``+=``).
"""

from racecourse import Defaults, Expect, Scenario


def add(counter):
    with counter.get_lock():
        counter.value += 1  # never reached: the argument cannot be sent


def build(share):
    return {"counter": share.Value("i", 0)}


def program(share, counter, processes):
    with share.Pool(processes) as pool:
        pool.map(add, [counter] * processes)  # raises RuntimeError: sent, not inherited


SCENARIO = Scenario(
    id="pool-arg-value",
    title="Value passed as a map argument: RuntimeError, shared only through inheritance",
    expect=Expect.ERROR,
    raises=RuntimeError,
    build=build,
    program=program,
    defaults=Defaults(processes=2, ops=1),
)
