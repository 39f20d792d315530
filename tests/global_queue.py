"""A Queue kept inside a module-global dict: refused up front, naming where it is."""

import multiprocessing

from racecourse import Expect, Scenario

CHANNELS = {"results": multiprocessing.Queue()}


def build(share):
    return {"counter": share.Value("i", 0, lock=False)}


def worker(counter, index):
    CHANNELS["results"].put(index)
    counter.value += 1


SCENARIO = Scenario(id="global-queue", title="a Queue in a module-global dict", expect=Expect.RACY,
                    build=build, worker=worker, observe=lambda counter: counter.value)
