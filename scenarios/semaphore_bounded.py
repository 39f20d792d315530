"""semaphore-bounded: a real ``Semaphore(2)`` bounds the section: never three inside.

What is shared: a ``Semaphore(2)``, ``slots``: the places in a section that at most two
processes may be in at once (a service that takes two connections, say). Each process
makes ``ops`` visits, as in ``semaphore-by-hand``; a visit that finds both places taken
is turned away::

    if slots.acquire(block=False):       # take a free place, if there is one
        try:
            visits[index] += 1           # the work the section bounds
            time.sleep(MOMENT)           # ... which takes a moment
        finally:
            slots.release()              # give the place back
    else:
        time.sleep(0)                    # turned away: let the others run

Why it is safe: ``acquire()`` checks the count and takes a place in one step that no
other process can come between; ``block=False`` only says what to do when no place is
free: return False at once instead of waiting (``with slots:`` would wait for a place).
Two processes can never both take the last place, so at most two are ever inside, in
every interleaving (``racecourse explore`` goes through them all). ``try``/``finally``
gives the place back even if the work raises.

Who is inside is recorded in ``crowd``, the test's own record (``share.bookkeeping``:
not part of the code under test), as [inside now, most ever inside at once]; the
invariant is "never more than two inside". Compare ``semaphore-by-hand``, where the
check and the take are two steps on a ``Value`` and three processes get in.
"""

import time

from racecourse import Defaults, Expect, Scenario

PLACES = 2
MOMENT = 0.0001  # seconds spent inside the section, as in semaphore-by-hand


def build(share, processes):
    return {
        "slots": share.Semaphore(PLACES),
        "visits": share.Array("i", processes, lock=False),  # each process's own visits
        "crowd": share.bookkeeping(share.Array("i", 2)),  # [inside now, most ever inside at once]
    }


def worker(slots, visits, crowd, index, ops):
    for _ in range(ops):
        if slots.acquire(block=False):  # check and take a place in one step
            try:
                come_in(crowd)
                visits[index] += 1  # the work the section bounds
                time.sleep(MOMENT)  # which takes a moment, as in semaphore-by-hand
                go_out(crowd)
            finally:
                slots.release()
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
    id="semaphore-bounded",
    title="if semaphore.acquire(block=False): never more than two inside",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    check=check,
    defaults=Defaults(processes=3, ops=2_000),
)
