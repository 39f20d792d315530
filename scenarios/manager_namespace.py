"""manager-namespace: an attribute of a Manager Namespace, incremented through a proxy.

What is shared: ``Manager().Namespace()``, an object with attributes that lives in the
Manager's server process. Workers hold a proxy; reading or setting an attribute is a
request to the server.

What goes wrong: ``ns.count += 1`` is two requests: reading ``ns.count`` sends
``__getattribute__`` (the server answers 41), assigning it sends ``__setattr__`` (the
server stores 42). Another worker's read can arrive between the two; both store 42 and
an increment is lost. The attribute syntax hides the round trips, but they are the same
two requests as ``d[key] += 1`` on a dict proxy (``manager-dict``).

The fix is a ``Manager().Lock()`` held across both requests, as in
``manager-dict-locked``.
"""

from racecourse import Defaults, Expect, Scenario


def build(share):
    ns = share.manager().Namespace()
    ns.count = 0
    return {"ns": ns}


def worker(ns, ops):
    for _ in range(ops):
        ns.count += 1  # a get request, then a set request: another client fits between


def observe(ns):
    return ns.count


SCENARIO = Scenario(
    id="manager-namespace",
    title="Manager().Namespace(): ns.count += 1 through a proxy",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=1_000),
)
