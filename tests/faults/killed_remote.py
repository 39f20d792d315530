"""The same with the remote manager's own server."""

import multiprocessing

from fault_marks import WAIT_SECONDS, mark

from racecourse import Defaults, Expect, Scenario
from racecourse.remote import RemoteManager
from racecourse.scenarios.remote_manager import build as remote_build
from racecourse.scenarios.remote_manager import observe as remote_observe


def build(share):
    shared = remote_build(share)
    (server,) = multiprocessing.active_children()
    mark("server.pid", server.pid)
    return shared


def worker(address, authkey, name, index):
    manager = RemoteManager(address=address, authkey=authkey)
    manager.connect()
    counter = manager.counter(name)
    if index == 0:
        mark("running", 1)
    while True:
        counter.value += 1


SCENARIO = Scenario(id="killed-remote", title="t", expect=Expect.RACY, build=build, worker=worker,
                    observe=remote_observe, defaults=Defaults(processes=2, trials=1, timeout=WAIT_SECONDS))
