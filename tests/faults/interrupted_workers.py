"""Workers that run until Ctrl-C, with every kind of shared state a run can hold."""

from fault_marks import WAIT_SECONDS, mark, observe

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"counter": share.Value("i", 0), "hits": share.manager().dict(), "block": share.shared_memory(64),
            "lock": share.Lock()}


def worker(counter, hits, lock, index):
    if index == 0:
        mark("running", 1)
    while True:
        with lock:
            counter.value += 1


SCENARIO = Scenario(id="interrupted-workers", title="t", expect=Expect.SAFE, build=build, worker=worker,
                    observe=observe, defaults=Defaults(processes=3, trials=1, timeout=WAIT_SECONDS))
