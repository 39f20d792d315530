"""A module-global Event: each child has its own under spawn and forkserver, and control
would not see its wait under any start method; refused up front."""

import multiprocessing

from racecourse import Expect, Scenario

STARTED = multiprocessing.Event()


def build(share):
    return {"counter": share.Value("i", 0, lock=False)}


def worker(counter, index):
    if index:
        STARTED.wait()  # would wait where racecourse does not look
    else:
        STARTED.set()
    counter.value += 1


SCENARIO = Scenario(id="global-event", title="a module-global Event", expect=Expect.RACY,
                    build=build, worker=worker, observe=lambda counter: counter.value)
