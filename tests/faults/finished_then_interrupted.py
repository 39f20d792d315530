"""A scenario that finishes, then one that runs until Ctrl-C: run prints the first."""

from fault_marks import WAIT_SECONDS, mark, observe

from racecourse import Defaults, Expect, Scenario
from racecourse.scenarios.locked_value import build as build_locked
from racecourse.scenarios.locked_value import worker as quick_worker


def build(share):
    return {"counter": share.Value("i", 0)}


def worker(counter, index):
    if index == 0:
        mark("running", 1)
    while True:
        counter.value += 1


FINISHED = Scenario(id="finished", title="t", expect=Expect.SAFE, build=build_locked, worker=quick_worker,
                    observe=observe, defaults=Defaults(ops=10, trials=1))
INTERRUPTED = Scenario(id="interrupted", title="t", expect=Expect.RACY, build=build, worker=worker,
                       observe=observe, defaults=Defaults(trials=1, timeout=WAIT_SECONDS))
