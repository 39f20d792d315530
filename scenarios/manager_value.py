"""manager-value: a counter held by a Manager server, incremented through a proxy.

What is shared: ``Manager().Value("i", 0)``. The value lives in the Manager's server
process; each worker holds a proxy, and every use of the proxy is a request over a
socket to that server.

What goes wrong: ``counter.value += 1`` on a proxy is two requests. Reading
``counter.value`` sends ``get`` (the server answers 41); assigning it sends ``set`` (the
server stores 42). The server carries out each request on its own, but nothing stops
another worker's ``get`` from arriving between this worker's ``get`` and its ``set``.
Both then store 42 and an update is lost. A Manager makes each call safe, not a sequence
of calls. Despite its name, ``Manager().Value`` has no ``get_lock()`` either.

The fix is the one ``manager-dict-locked`` shows: a ``Manager().Lock()`` held across
both requests.
"""

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"counter": share.manager().Value("i", 0)}


def worker(counter, ops):
    for _ in range(ops):
        counter.value += 1  # a get request, then a set request: another client fits between


def observe(counter):
    return counter.value


SCENARIO = Scenario(
    id="manager-value",
    title="Manager().Value: v.value += 1 through a proxy",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=1_000),
)
