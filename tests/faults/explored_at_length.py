"""Explored with a budget it never reaches: each schedule runs the worker in the controlled
processes, which say once that they are being explored.
"""

import os

from fault_marks import mark, marker_path, observe

from racecourse import Expect, Scenario


def build(share):
    return {"counter": share.Value("i", 0, lock=False)}


def worker(counter, ops):
    if not os.path.exists(marker_path("running")):
        mark("running", 1)
    for _ in range(ops):
        counter.value += 1


SCENARIO = Scenario(id="explored-at-length", title="t", expect=Expect.RACY, build=build, worker=worker,
                    observe=observe)
