"""A Pool whose first task says where it runs, then waits for the test to kill its worker. The
Pool replaces the worker but drops the task, so map would wait forever: racecourse must
name the killed worker and end the run (the timeout only bounds a run that fails to).
"""

import os
import time

from fault_marks import WAIT_SECONDS, mark, observe

from racecourse import Defaults, Expect, Scenario


def task(number):
    if number == 0:
        mark("task.pid", os.getpid())
        time.sleep(3600)
    return number


def build(share):
    return {"counter": share.Value("i", 0)}


def program(share, counter):
    with share.Pool(2) as pool:
        counter.value = sum(pool.map(task, range(2), chunksize=1))


SCENARIO = Scenario(id="killed-pool-worker", title="t", expect=Expect.SAFE, build=build, program=program,
                    observe=observe, expected=lambda p, k: 1, defaults=Defaults(trials=1, timeout=WAIT_SECONDS))
