from fault_marks import WAIT_SECONDS, observe

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"counter": share.Value("i", 0), "hits": share.manager().dict(), "block": share.shared_memory(64)}


def worker(counter, index, ops):
    for n in range(ops):
        with counter.get_lock():
            counter.value += 1
        if index == 1 and n == ops // 2:
            raise ValueError("worker one gives up halfway")


SCENARIO = Scenario(id="raising-worker", title="t", expect=Expect.SAFE, build=build, worker=worker,
                    observe=observe, defaults=Defaults(processes=3, ops=1000, trials=2, timeout=WAIT_SECONDS))
