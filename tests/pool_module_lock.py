"""pool-module-lock: a Pool's tasks share a module-level Lock, and count through a Value
that the Pool's initializer installs.

Under fork every Pool worker inherits the parent's ``LOCK``; under spawn and forkserver
each worker imports this module afresh and runs ``LOCK = multiprocessing.Lock()`` again,
so the tasks lock different semaphores and the count can come out short. The Value is
handed over by the initializer under every start method, and is shared everywhere.
"""

import multiprocessing

from racecourse import Defaults, Expect, Scenario

# A semaphore of fork's kind: unnamed, so nothing outlives the processes that use it. (A
# multiprocessing.Lock() under spawn or forkserver is a named semaphore in /dev/shm, and
# one that a Pool worker makes at import is left behind when the worker exits: this
# suite's own checks would see it.) Each process that imports the module still runs this
# line and gets a Lock of its own: the very bug this file shows.
LOCK = multiprocessing.get_context("fork").Lock()
COUNTER = None  # set in each Pool worker by install()


def install(counter):
    global COUNTER
    COUNTER = counter


def work(item):
    with LOCK:
        COUNTER.value += 1


def build(share):
    return {"counter": share.Value("i", 0, lock=False)}


def program(share, counter, processes, ops):
    with share.Pool(processes, initializer=install, initargs=(counter,)) as pool:
        pool.map(work, range(processes * ops))


def observe(counter):
    return counter.value


SCENARIO = Scenario(id="pool-module-lock", title="A Pool's tasks lock a module-level Lock", expect=Expect.RACY,
                    build=build, program=program, observe=observe, defaults=Defaults(processes=2, ops=1000))


def count_in_the_parent(counter, processes, ops):
    counter.value = processes * ops  # no child process at all


# A program that starts no process through share: there is nothing whose provenance to trace.
NO_PROCESSES = Scenario(id="no-processes", title="t", expect=Expect.SAFE, build=build, program=count_in_the_parent,
                        observe=observe)
