"""Semaphore uses for the controlled-scheduling tests: at most two processes inside a
section, built by hand from a Value (racy) and with Semaphore(2) (safe), a semaphore
taken twice by each of two processes (deadlock), and a BoundedSemaphore released past
its initial value (ValueError); the same with a Manager's semaphores, and a count
incremented under Semaphore(2), where two increments race (racy)."""

from racecourse import Defaults, Expect, Scenario


def build_count(share):
    return {"inside": share.Value("i", 0, lock=False)}


def enter_if_room(inside):
    if inside.value < 2:  # room? another process may be entering right now
        inside.value += 1


def at_most_two(inside):
    return None if inside.value <= 2 else f"{inside.value} processes inside at once"


HAND_BUILT = Scenario(id="hand-built-two-slots", title="if inside < 2: inside += 1", expect=Expect.RACY,
                      build=build_count, worker=enter_if_room, check=at_most_two,
                      defaults=Defaults(processes=3, ops=1))


def build_slots(share):
    return {"slots": share.Semaphore(2), "inside": share.Value("i", 0), "crowded": share.Value("i", 0, lock=False)}


def enter_with_semaphore(slots, inside, crowded):
    with slots:
        with inside.get_lock():  # the count itself under a lock: two may be inside together
            inside.value += 1
            if inside.value > 2:
                crowded.value = inside.value
        with inside.get_lock():
            inside.value -= 1


def never_crowded(crowded):
    return None if not crowded.value else f"{crowded.value} processes inside at once"


SEMAPHORE = Scenario(id="semaphore-two-slots", title="with Semaphore(2)", expect=Expect.SAFE,
                     build=build_slots, worker=enter_with_semaphore, check=never_crowded,
                     defaults=Defaults(processes=3, ops=1))


def build_bounded(share):
    return {"slots": share.BoundedSemaphore(2)}


def take_two(slots):
    slots.acquire()
    slots.acquire()


TAKE_TWO = Scenario(id="take-two-slots", title="each takes two of two slots", expect=Expect.DEADLOCK,
                    build=build_bounded, worker=take_two, check=lambda slots: None,
                    defaults=Defaults(processes=2, ops=1))


def build_one(share):
    return {"slot": share.BoundedSemaphore(1)}


def release_unheld(slot):
    slot.release()


OVER_RELEASE = Scenario(id="over-release", title="BoundedSemaphore released once too often", expect=Expect.ERROR,
                        raises=ValueError, build=build_one, worker=release_unheld, check=lambda slot: None,
                        defaults=Defaults(processes=1, ops=1))


# -- the same with a Manager's semaphores (share.manager()), and a racy count under Semaphore(2)


def build_manager_slots(share):
    return {"slots": share.manager().Semaphore(2), "inside": share.Value("i", 0),
            "crowded": share.Value("i", 0, lock=False)}


MANAGER_SEMAPHORE = Scenario(id="manager-semaphore-two-slots", title="with a Manager's Semaphore(2)",
                             expect=Expect.SAFE, build=build_manager_slots, worker=enter_with_semaphore,
                             check=never_crowded, defaults=Defaults(processes=3, ops=1))


def build_manager_bounded(share):
    return {"slots": share.manager().BoundedSemaphore(2)}


MANAGER_TAKE_TWO = Scenario(id="manager-take-two-slots", title="each takes two of a Manager's two slots",
                            expect=Expect.DEADLOCK, build=build_manager_bounded, worker=take_two,
                            check=lambda slots: None, defaults=Defaults(processes=2, ops=1))


def build_manager_one(share):
    return {"slot": share.manager().BoundedSemaphore(1)}


MANAGER_OVER_RELEASE = Scenario(id="manager-over-release", title="a Manager's BoundedSemaphore released too often",
                                expect=Expect.ERROR, raises=ValueError, build=build_manager_one,
                                worker=release_unheld, check=lambda slot: None, defaults=Defaults(processes=1, ops=1))


def _count_under_two_slots(build):
    def build_count_slots(share):
        return {"slots": build(share)(2), "count": share.Value("i", 0, lock=False)}
    return build_count_slots


def count_in_section(slots, count):
    with slots:  # two may be inside together: their increments race
        count.value += 1


def _two_slots(prefix, share_or_manager):
    return Scenario(id=f"{prefix}count-under-two-slots", title="count += 1 under Semaphore(2)", expect=Expect.RACY,
                    build=_count_under_two_slots(share_or_manager), worker=count_in_section,
                    observe=lambda count: count.value, defaults=Defaults(processes=2, ops=1))


COUNT_UNDER_TWO = _two_slots("", lambda share: share.Semaphore)
MANAGER_COUNT_UNDER_TWO = _two_slots("manager-", lambda share: share.manager().Semaphore)
