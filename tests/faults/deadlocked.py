"""Two locks in opposite orders, and a barrier between the first and the second, so that both
workers hold one lock and wait for the other every time: natural scheduling, certain
deadlock.
"""

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"alice": share.Value("i", 0), "bob": share.Value("i", 0), "between": share.context.Barrier(2)}


def worker(alice, bob, between, index):
    first, second = (alice, bob) if index == 0 else (bob, alice)
    with first.get_lock():
        between.wait()
        with second.get_lock():
            first.value += 1


def observe(alice):
    return alice.value


SCENARIO = Scenario(id="deadlocked", title="t", expect=Expect.SAFE, build=build, worker=worker,
                    observe=observe, expected=lambda p, k: 1, defaults=Defaults(processes=2, trials=1))
