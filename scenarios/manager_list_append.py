"""manager-list-append: appending to a Manager list, one call and one request, is safe.

What is shared: ``Manager().list()``, a list that lives in the Manager's server process;
workers hold proxies. The count is not a number anyone increments: it is the length of
the list, ``len(items)``, read by the parent at the end.

Why it is safe: ``items.append(x)`` is a single method call on the proxy, so a single
request. The server runs each request to completion before the next one on that list,
so two appends never interleave and every one of them lands. Compare
``manager-list-item``: ``items[0] += 1`` is two requests (a get and a set), and another
worker's request can come between them. Counting by appending (or by returning values,
as ``pool-map`` does) turns a read-modify-write into a single operation.
"""

from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"items": share.manager().list()}


def worker(items, ops, index):
    for _ in range(ops):
        items.append(index)  # one request: the server does the whole append at once


def observe(items):
    return len(items)


SCENARIO = Scenario(
    id="manager-list-append",
    title="Manager().list(): l.append(x), one call, one request",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=1_000),
)
