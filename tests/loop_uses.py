"""Polling loops for the controlled-scheduling tests. Under control a timed wait is a try,
so a loop that polls (``while not ready.wait(0.01)``) can go round as often as the
schedule lets it: the tree of schedules is endless unless exploration sees the run come
back to a state it was in. A poller whose event is set (safe), one whose event nobody
sets (a livelock), two pollers each waiting for the other (a livelock only both going
round shows), a poller that gives up after three tries (no livelock: its count of tries
changes), and a spin on a shared flag."""

from racecourse import Defaults, Expect, Scenario

_SIZE = Defaults(processes=2, ops=1)


def build_poll(share):
    return {"ready": share.Event(), "seen": share.Value("i", 0, lock=False)}


def poll_for_the_set(ready, seen, index):
    if index == 0:
        ready.set()
    else:
        while not ready.wait(0.01):
            pass
        seen.value = 1


def poll_for_a_set_nobody_does(ready, seen, index):
    if index == 0:
        seen.value = 2  # forgets to set ready
    else:
        while not ready.wait(0.01):
            pass
        seen.value = 1


def poll_three_times(ready, seen, index):
    if index == 0:
        seen.value = 2  # forgets to set ready
    else:
        tries = 0
        while not ready.wait(0.01) and tries < 3:
            tries += 1
        seen.value = 1 if tries < 3 else 3


def the_poller_saw_it(seen):
    return {0: "nobody wrote", 1: None, 2: "the poller never wrote", 3: "the poller gave up"}[seen.value]


POLLER = Scenario(id="poller", title="polls until the event is set", expect=Expect.SAFE, build=build_poll,
                  worker=poll_for_the_set, check=the_poller_saw_it, defaults=_SIZE)
LONELY = Scenario(id="lonely-poller", title="polls for a set nobody does", expect=Expect.RACY, build=build_poll,
                  worker=poll_for_a_set_nobody_does, check=the_poller_saw_it, defaults=_SIZE)
GIVES_UP = Scenario(id="poller-that-gives-up", title="polls three times", expect=Expect.RACY, build=build_poll,
                    worker=poll_three_times, check=the_poller_saw_it, defaults=_SIZE)


def build_two(share):
    return {"ping": share.Event(), "pong": share.Event(), "done": share.Value("i", 0, lock=False)}


def each_polls_first(ping, pong, done, index):
    # One name per assignment: racecourse tells a worker's state only from code whose
    # values are all in its frame (control.states), and only a told state shows a loop.
    mine = ping if index == 0 else pong
    theirs = pong if index == 0 else ping
    while not mine.wait(0.01):  # each polls for the other to go first
        pass
    theirs.set()
    done.value = 1


CROSSED = Scenario(id="crossed-pollers", title="each polls for the other's event", expect=Expect.RACY,
                   build=build_two, worker=each_polls_first, check=lambda done: None if done.value else "nobody done",
                   defaults=_SIZE)


def build_flag(share):
    return {"flag": share.Value("i", 0, lock=False), "data": share.Value("i", 0, lock=False),
            "seen": share.Value("i", -1, lock=False)}


def spin_on_a_flag(flag, data, seen, index):
    if index == 0:
        data.value = 42
        flag.value = 1
    else:
        while flag.value == 0:
            pass
        seen.value = data.value


SPIN = Scenario(id="spin-on-a-flag", title="spins until the flag is up", expect=Expect.SAFE, build=build_flag,
                worker=spin_on_a_flag, check=lambda seen: None if seen.value == 42 else f"saw {seen.value}",
                defaults=_SIZE)


def poll_where_the_state_is_hidden(ready, seen, index):
    me, them = index, 1 - index  # a tuple assignment: no state racecourse can tell (control.states)
    if me < them:
        seen.value = 2  # forgets to set ready
    else:
        while not ready.wait(0.01):
            pass
        seen.value = 1


HIDDEN = Scenario(id="hidden-poller", title="polls where its state cannot be told", expect=Expect.RACY,
                  build=build_poll, worker=poll_where_the_state_is_hidden, check=the_poller_saw_it, defaults=_SIZE)
