"""manager-dict: a dict held by a Manager server, incremented through a proxy.

What is shared: ``Manager().dict()``. The dict lives in the Manager's server process;
each worker holds a proxy that turns every operation into a request over a socket.

What goes wrong: ``counts[key] += 1`` on a proxy is two requests: ``__getitem__`` (the
server answers 41) and then ``__setitem__`` (the server stores 42). The server handles
each request atomically, but nothing keeps another client's get from arriving between
this client's get and set. Both then store 42, and an update is lost. Proxies make
single calls safe, not sequences of calls.

The safe twin, ``manager-dict-locked``, holds a ``Manager().Lock()`` across both requests.
"""

from racecourse import Defaults, Expect, Scenario

KEY = "hits"


def build(share):
    counts = share.manager().dict()
    counts[KEY] = 0
    return {"counts": counts}


def worker(counts, ops):
    for _ in range(ops):
        counts[KEY] += 1  # a get request, then a set request: another client fits between


def observe(counts):
    return counts[KEY]


SCENARIO = Scenario(
    id="manager-dict",
    title="Manager().dict(): d[key] += 1 through a proxy",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=1_000),
)
