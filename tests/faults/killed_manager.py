"""The Manager server's pid is the only child when build starts it."""

import multiprocessing

from fault_marks import WAIT_SECONDS, mark, observe

from racecourse import Defaults, Expect, Scenario


def build(share):
    hits = share.manager().dict()
    hits["n"] = 0
    (server,) = multiprocessing.active_children()
    mark("server.pid", server.pid)
    return {"hits": hits, "counter": share.Value("i", 0)}


def worker(hits, index):
    if index == 0:
        mark("running", 1)
    while True:
        hits["n"] += 1


SCENARIO = Scenario(id="killed-manager", title="t", expect=Expect.RACY, build=build, worker=worker,
                    observe=observe, defaults=Defaults(processes=2, trials=1, timeout=WAIT_SECONDS))
