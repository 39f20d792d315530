"""Worker 0 says where it is, then works until the test kills it."""

import os

from fault_marks import WAIT_SECONDS, mark, observe

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"counter": share.Value("i", 0), "hits": share.manager().dict(), "block": share.shared_memory(64)}


def worker(counter, hits, index, ops):
    if index == 0:
        mark("worker.pid", os.getpid())
        while True:
            with counter.get_lock():
                counter.value += 1
    for _ in range(ops):
        with counter.get_lock():
            counter.value += 1


SCENARIO = Scenario(id="killed-worker", title="t", expect=Expect.SAFE, build=build, worker=worker,
                    observe=observe, defaults=Defaults(processes=3, ops=100, trials=1, timeout=WAIT_SECONDS))
