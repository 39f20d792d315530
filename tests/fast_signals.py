"""Shared state that a trial changes and that is not memory: a Semaphore's count and an
Event's flag. Fast trials must put both back between trials, as they put back a Value."""

from racecourse import Expect, Scenario


def build(share):
    return {"tickets": share.Semaphore(0), "started": share.context.Event(), "firsts": share.Value("i", 0)}


def worker(tickets, started, firsts, ops):
    # Whoever finds the Event clear counts itself as first; with the Event put back after
    # every trial, some worker finds it clear in every trial.
    if not started.is_set():
        with firsts.get_lock():
            firsts.value += 1
    started.set()
    for _ in range(ops):
        tickets.release()  # a signal: released, never acquired


def observe(tickets, firsts):
    return tickets.get_value() * 10 + min(firsts.value, 1)


SIGNALS = Scenario(id="fast-signals", title="t", expect=Expect.SAFE, build=build, worker=worker, observe=observe,
                   expected=lambda processes, ops: processes * ops * 10 + 1)
