"""Event uses for the controlled-scheduling tests: a handshake that sets the event before
the data is written (racy) and after (safe), each with an Event and a Manager's Event;
two processes each waiting for the other's event (deadlock); a timed wait, which control
models as a try."""

from racecourse import Defaults, Expect, Scenario


def build_handshake(share):
    return {"ready": share.Event(), "data": share.Value("i", 0, lock=False), "seen": share.Value("i", -1, lock=False)}


def build_manager_handshake(share):
    return {"ready": share.manager().Event(), "data": share.Value("i", 0, lock=False),
            "seen": share.Value("i", -1, lock=False)}


def announce_too_early(ready, data, seen, index):
    if index == 0:
        ready.set()  # says "ready" before the data is there
        data.value = 42
    else:
        ready.wait()
        seen.value = data.value


def announce_when_written(ready, data, seen, index):
    if index == 0:
        data.value = 42
        ready.set()
    else:
        ready.wait()
        seen.value = data.value


def saw_the_data(seen):
    return None if seen.value in (-1, 42) else f"the reader saw {seen.value}"


_SIZE = Defaults(processes=2, ops=1)
EARLY = Scenario(id="event-set-too-early", title="set, then write", expect=Expect.RACY, build=build_handshake,
                 worker=announce_too_early, check=saw_the_data, defaults=_SIZE)
WRITTEN = Scenario(id="event-set-when-written", title="write, then set", expect=Expect.SAFE, build=build_handshake,
                   worker=announce_when_written, check=saw_the_data, defaults=_SIZE)
MANAGER_EARLY = Scenario(id="manager-event-set-too-early", title="set, then write", expect=Expect.RACY,
                         build=build_manager_handshake, worker=announce_too_early, check=saw_the_data,
                         defaults=_SIZE)
MANAGER_WRITTEN = Scenario(id="manager-event-set-when-written", title="write, then set", expect=Expect.SAFE,
                           build=build_manager_handshake, worker=announce_when_written, check=saw_the_data,
                           defaults=_SIZE)


def build_two(share):
    return {"ping": share.Event(), "pong": share.Event()}


def each_waits_first(ping, pong, index):
    mine, theirs = (ping, pong) if index == 0 else (pong, ping)
    mine.wait()  # each waits for the other to go first
    theirs.set()


CROSSED = Scenario(id="crossed-events", title="each waits for the other's event", expect=Expect.DEADLOCK,
                   build=build_two, worker=each_waits_first, check=lambda ping: None, defaults=_SIZE)


def build_timed(share):
    return {"ready": share.Event(), "seen": share.Value("i", -1, lock=False)}


def glance(ready, seen, index):
    if index == 0:
        ready.set()
    else:
        seen.value = ready.wait(5.0)  # a try under control: the flag as it is now


def glanced(seen):
    return None if seen.value else "the event was not set yet"


TIMED = Scenario(id="timed-event-wait", title="wait(5.0) as a try", expect=Expect.RACY, build=build_timed,
                 worker=glance, check=glanced, defaults=_SIZE)
