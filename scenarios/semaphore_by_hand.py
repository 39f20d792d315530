"""semaphore-by-hand: a "Semaphore(2)" built from a Value lets three processes in at once.

What is shared: a count of the places taken in a section that at most ``PLACES = 2``
processes may be in at once (a service that takes two connections, say):
``Value("i", 0)``, whose every update is made under its own lock. Each process makes
``ops`` visits; a visit that finds both places taken is turned away (it does not wait,
as a server that sheds load)::

    if inside.value < PLACES:            # check: is a place free?
        time.sleep(MOMENT)               # getting ready to come in
        with inside.get_lock():
            inside.value += 1            # act: take it
        visits[index] += 1               # the work the section bounds
        time.sleep(MOMENT)               # ... which takes a moment
        with inside.get_lock():
            inside.value -= 1            # give the place back
    else:
        time.sleep(0)                    # turned away: let the others run

The two short sleeps stand for what real code does between deciding and acting, and
inside the section (open a connection, write a log line): on 2 cores, three processes
whose check, act and section take a few instructions each are seldom all in the wrong
place at once, and the default run would often show nothing.

What goes wrong: the count itself is always right, every change is made under its lock
(compare ``raw-value``, where the count loses updates). But the check is made before the
lock, on a count that may change before the act:

1. process 0 reads the count: 0, a place is free;
2. before it takes one, the other two check (0, then 1: free) and each takes a place:
   the count is 2, the section is full;
3. process 0 acts on what it read earlier and takes a place too, under the lock: the
   count is 3, and three processes are in a section meant for two.

A lock around each step does not make the check and the act one step (as in
``check-then-act``). It takes three processes: ``racecourse explore semaphore-by-hand
-p 3`` finds it, and at two there is nothing to find. Who is inside is recorded in
``crowd``, the test's own record (``share.bookkeeping``: not part of the code under
test), as [inside now, most ever inside at once]; the invariant is "never more than two
inside".

The fix (``semaphore-bounded``): a ``Semaphore(2)`` is exactly this count with the check
and the take made as one step. ``slots.acquire(block=False)`` takes a place if one is
free and says whether it did; ``release()`` gives it back::

    if slots.acquire(block=False):
        try:
            visits[index] += 1
        finally:
            slots.release()

(By hand, the check would have to move inside the lock: ``with inside.get_lock(): if
inside.value < PLACES: inside.value += 1``, which is what the semaphore does for you.)
"""

import time

from racecourse import Acceptable, Defaults, Expect, Interesting, Scenario

PLACES = 2
MOMENT = 0.0001  # seconds: the time between check and act, and inside the section


def build(share, processes):
    return {
        "inside": share.Value("i", 0),  # places taken; every update under its lock
        "visits": share.Array("i", processes, lock=False),  # each process's own visits
        "crowd": share.bookkeeping(share.Array("i", 2)),  # [inside now, most ever inside at once]
    }


def worker(inside, visits, crowd, index, ops):
    for _ in range(ops):
        if inside.value < PLACES:  # check: a free place now, maybe not by the time we take it
            time.sleep(MOMENT)  # getting ready to come in: others may check meanwhile
            with inside.get_lock():
                inside.value += 1  # act: locked, but on a decision already made
            come_in(crowd)
            visits[index] += 1  # the work the section bounds
            time.sleep(MOMENT)  # which takes a moment
            go_out(crowd)
            with inside.get_lock():
                inside.value -= 1
        else:
            time.sleep(0)  # turned away: let the others run before the next visit


def come_in(crowd):
    with crowd.get_lock():
        crowd[0] += 1
        crowd[1] = max(crowd[1], crowd[0])


def go_out(crowd):
    with crowd.get_lock():
        crowd[0] -= 1


def check(crowd):
    if crowd[1] > PLACES:
        return f"{crowd[1]} processes were inside at once, in a section for {PLACES}"
    return None


SCENARIO = Scenario(
    id="semaphore-by-hand",
    title="if inside.value < 2: take a place (under the lock): three inside at once",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    check=check,
    outcomes=(
        Acceptable("never more than two inside", when=lambda violation: violation is None),
        Interesting("three inside: two read the same free place before either took it",
                    when=lambda violation: "inside at once" in violation),
    ),
    defaults=Defaults(processes=3, ops=2_000),
)
