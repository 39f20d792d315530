"""manager-dict-locked: the fix for manager-dict, a Manager lock around both requests.

What is shared: ``Manager().dict()`` and ``Manager().Lock()``, both held by the
Manager's server process and reached through proxies.

Why it is safe: ``counts[key] += 1`` is still two requests, ``__getitem__`` then
``__setitem__``. What changes is that every worker sends both while holding the same
lock: ``lock.acquire()`` is itself a request, and the server answers it only when no
other worker holds the lock. So no other worker's get can arrive between this worker's
get and its set, and no update is lost. It costs two more round trips per increment.

It fixes ``manager-dict``, the same dict and the same ``+=`` with no lock. The lock has
to come from the Manager (or be inherited): a plain ``Lock()`` works too when every
worker is a child of the process that made it, but a Manager lock also serves workers
that are not related, such as those of ``remote-manager-locked``.
"""

from racecourse import Defaults, Expect, Scenario

KEY = "hits"


def build(share):
    manager = share.manager()
    counts = manager.dict()
    counts[KEY] = 0
    return {"counts": counts, "lock": manager.Lock()}


def worker(counts, lock, ops):
    for _ in range(ops):
        with lock:  # no other client's get can come between this get and this set
            counts[KEY] += 1


def observe(counts):
    return counts[KEY]


SCENARIO = Scenario(
    id="manager-dict-locked",
    title="Manager().dict(): d[key] += 1 under a Manager().Lock()",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=500),
)
