"""remote-manager: a counter served by a Manager on an address, += from its clients.

What is shared: one counter held by a ``BaseManager`` server that listens on a network
address and asks every client for an authkey. racecourse's server is declared like this
(``racecourse.remote``), so that any process that knows the address and the key can ask
for a counter by name:

    class RemoteManager(BaseManager): pass
    RemoteManager.register("counter", callable=counter, proxytype=ValueProxy)

Each worker connects by itself, as a worker on another machine would:
``RemoteManager(address=(host, port), authkey=key).connect()``, then
``manager.counter(name)``. By default the run starts its own server on 127.0.0.1;
``racecourse serve`` runs one for other machines and
``racecourse run remote-manager --connect HOST:PORT --authkey-file F`` uses it.

What goes wrong: ``counter.value += 1`` on the proxy is two requests over the network,
``get`` (the server answers 41) and then ``set`` (the server stores 42). The server
carries out each request on its own, but nothing stops another client's ``get`` from
arriving between this client's ``get`` and its ``set``. Both store 42: an update is
lost. Across machines each round trip takes longer, and the window is wider.

The safe twin, ``remote-manager-locked``, holds a lock that the same server serves
across both requests.
"""

import uuid

from racecourse import Defaults, Expect, Scenario
from racecourse.remote import RemoteManager


def build(share):
    manager = share.remote_manager()  # this run's own server, or the one --connect names
    name = uuid.uuid4().hex  # this trial's counter, apart from other runs on the server
    return {
        "address": manager.address,
        "authkey": share.remote_authkey(),
        "name": name,
        "counter": manager.counter(name),  # the parent's proxy keeps it alive on the server
    }


def worker(address, authkey, name, ops):
    manager = RemoteManager(address=address, authkey=authkey)
    manager.connect()  # by address, as from another machine
    counter = manager.counter(name)
    for _ in range(ops):
        counter.value += 1  # a get request, then a set request: another client fits between


def observe(counter):
    return counter.value


SCENARIO = Scenario(
    id="remote-manager",
    title="counter served by a BaseManager on an address: += from connected clients",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=1_000),
)
