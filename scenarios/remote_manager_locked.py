"""remote-manager-locked: the fix for remote-manager, a lock served by the same server.

What is shared: a counter and a lock, both held by a ``BaseManager`` server listening on
a network address with an authkey (see ``remote-manager``). Each worker connects to the
server by itself and asks for both by name: ``manager.counter(name)`` and
``manager.lock(name)``. Every client that asks for the same name gets a proxy to the
same lock.

Why it is safe: ``counter.value += 1`` is still two requests, ``get`` then ``set``.
What changes is that every worker sends both while holding the lock:
``lock.acquire()`` is itself a request, and the server answers it only when no other
client holds the lock. So no other client's ``get`` can arrive between this client's
``get`` and its ``set``, and no update is lost. Each increment now costs four round
trips instead of two: across machines that is the price of correctness.

The lock must come from the server. A ``multiprocessing.Lock()`` reaches only the
children of the process that made it; workers that connect by address, from other
machines, are not related to each other and share only what the server serves.
"""

import uuid

from racecourse import Defaults, Expect, Scenario
from racecourse.remote import RemoteManager


def build(share):
    manager = share.remote_manager()  # this run's own server, or the one --connect names
    name = uuid.uuid4().hex  # this trial's counter and lock, apart from other runs
    return {
        "address": manager.address,
        "authkey": share.remote_authkey(),
        "name": name,
        "counter": manager.counter(name),  # the parent's proxies keep both alive
        "held": manager.lock(name),
    }


def worker(address, authkey, name, ops):
    manager = RemoteManager(address=address, authkey=authkey)
    manager.connect()  # by address, as from another machine
    counter = manager.counter(name)
    lock = manager.lock(name)
    for _ in range(ops):
        with lock:  # no other client's get can come between this get and this set
            counter.value += 1


def observe(counter):
    return counter.value


SCENARIO = Scenario(
    id="remote-manager-locked",
    title="counter served by a BaseManager on an address: += under a lock it serves",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=500),
)
