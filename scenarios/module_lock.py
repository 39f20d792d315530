"""module-lock: a Lock created when the module is imported: one lock under fork only.

What is shared: a raw counter, ``Value("i", 0, lock=False)``, made by the parent and
passed to every worker. The lock is NOT passed: the module creates it at import,
``LOCK = multiprocessing.Lock()``, and the worker uses the global,
``with LOCK: counter.value += 1``.

Under fork: each child is a copy of the parent, module globals included, so every child
holds the very lock the parent created at import. One lock, held across the whole read,
add and write: no update is lost.

Under spawn and forkserver: a child does not copy the parent. It starts a fresh
interpreter (spawn) or is forked from a server process that has not imported this
module (forkserver), and it imports the module itself to find the worker. That import
runs ``LOCK = multiprocessing.Lock()`` again: every child creates and holds its own
private lock. Taking a lock that nobody else can see excludes nobody, and
``counter.value += 1``, a read and a separate write, races exactly as in ``raw-value``.

This is the bug that Python 3.14 exposed in many projects when Linux's default start
method moved from fork to forkserver. The fix works under every start method: create the
lock in the parent and hand it to the workers (``lock-value``), or use the Value's own
lock (``locked-value``).
"""

import multiprocessing

from racecourse import Defaults, Expect, Scenario

LOCK = multiprocessing.Lock()  # runs again in every child that imports this module


def build(share):
    return {"counter": share.Value("i", 0, lock=False)}


def worker(counter, ops):
    for _ in range(ops):
        with LOCK:  # the parent's lock under fork; a private one under spawn and forkserver
            counter.value += 1


def observe(counter):
    return counter.value


SCENARIO = Scenario(
    id="module-lock",
    title="Lock() created at module import: shared under fork only",
    expect=Expect.FORK_ONLY,
    build=build,
    worker=worker,
    observe=observe,
    defaults=Defaults(processes=2, ops=300_000),
)
