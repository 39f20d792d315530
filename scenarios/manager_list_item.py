"""manager-list-item: one item of a Manager list, incremented through a proxy.

What is shared: ``Manager().list([0])``, a one-item list in the Manager's server
process, reached through proxies.

What goes wrong: ``items[0] += 1`` is two requests: ``__getitem__`` (the server answers
41), then ``__setitem__`` (the server stores 42). Another worker's ``__getitem__`` can
arrive between them; both store 42 and an increment is lost. Each request is atomic on
the server; the pair is not.

Its safe counterpart, ``manager-list-append``, counts with ``items.append(x)`` instead:
one call, one request, nothing to interleave with. A ``Manager().Lock()`` held across
the ``+=`` also fixes it, as ``manager-dict-locked`` shows.
"""

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"items": share.manager().list([0])}


def worker(items, ops):
    for _ in range(ops):
        items[0] += 1  # a get request, then a set request: another client fits between


def observe(items):
    return items[0]


SCENARIO = Scenario(
    id="manager-list-item",
    title="Manager().list([0]): l[0] += 1 through a proxy",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=1_000),
)
