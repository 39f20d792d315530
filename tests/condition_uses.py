"""Condition uses for the controlled-scheduling tests: a bounded buffer whose consumers
wait under ``if`` (racy: another consumer may take the item between the notify and the
waiter's return) and under ``while`` (safe); a wait that starts after the only notify
(deadlock); a timed wait, which a notify may wake or not; the same with a Manager's
Condition, made with its own lock or over a Manager lock the producer takes directly; one
notify for a timed and an untimed waiter (the timed one may time out while the notify
chooses it: then that wake-up is lost and the other waits on); a notifier that keeps the
lock while it waits for something else (deadlock: the woken waiter cannot re-acquire it)."""

from racecourse import Defaults, Expect, Scenario


def build_buffer(share):
    return {"ready": share.Condition(), "items": share.Value("i", 0, lock=False),
            "lowest": share.Value("i", 0, lock=False)}


def produce(ready, items, processes):
    for _ in range(processes - 1):  # one item for each consumer, one at a time
        with ready:
            items.value += 1
            ready.notify()


def take(items, lowest):
    left = items.value - 1
    items.value = left
    if left < 0:
        lowest.value = left


def consume_if(ready, items, lowest, index, processes):
    if index == 0:
        produce(ready, items, processes)
        return
    with ready:
        if items.value == 0:  # woken, the item may already be gone
            ready.wait()
        take(items, lowest)


def consume_while(ready, items, lowest, index, processes):
    if index == 0:
        produce(ready, items, processes)
        return
    with ready:
        while items.value == 0:  # woken: look again
            ready.wait()
        take(items, lowest)


def never_below_zero(lowest):
    return None if lowest.value == 0 else f"took from an empty buffer ({lowest.value} items)"


_SIZE = Defaults(processes=3, ops=1)
IF = Scenario(id="condition-if", title="if empty: wait", expect=Expect.RACY, build=build_buffer,
              worker=consume_if, check=never_below_zero, defaults=_SIZE)
WHILE = Scenario(id="condition-while", title="while empty: wait", expect=Expect.SAFE, build=build_buffer,
                 worker=consume_while, check=never_below_zero, defaults=_SIZE)


def build_plain(share):
    return {"ready": share.Condition(share.Lock()), "woke": share.Value("i", 0, lock=False)}


def notify_or_wait(ready, woke, index):
    with ready:
        if index == 0:
            ready.notify()  # nobody may be waiting yet: then the notify is lost
        else:
            ready.wait()
            woke.value = 1


LOST_NOTIFY = Scenario(id="condition-lost-notify", title="wait with no predicate", expect=Expect.DEADLOCK,
                       build=build_plain, worker=notify_or_wait, check=lambda woke: None,
                       defaults=Defaults(processes=2, ops=1))


def timed(ready, woke, index):
    with ready:
        if index == 0:
            ready.notify()
        else:
            woke.value = 1 if ready.wait(5.0) else 2


def timed_out(woke):
    return None if woke.value == 1 else "the wait timed out"


TIMED = Scenario(id="condition-timed-wait", title="wait(5.0)", expect=Expect.RACY, build=build_plain, worker=timed,
                 check=timed_out, defaults=Defaults(processes=2, ops=1))


# -- the same with a Manager's Condition (share.manager()), and timed waits that may be woken


def build_manager_buffer(share):
    return {"ready": share.manager().Condition(), "items": share.Value("i", 0, lock=False),
            "lowest": share.Value("i", 0, lock=False)}


def build_manager_buffer_over_lock(share):
    manager = share.manager()
    lock = manager.Lock()  # the producer takes it directly, the consumers through the Condition
    return {"ready": manager.Condition(lock), "lock": lock, "items": share.Value("i", 0, lock=False),
            "lowest": share.Value("i", 0, lock=False)}


def consume_while_over_lock(ready, lock, items, lowest, index, processes):
    if index == 0:
        for _ in range(processes - 1):
            with lock:  # the Condition's own lock, taken without the Condition
                items.value += 1
                ready.notify()
        return
    consume_while(ready, items, lowest, index, processes)


MANAGER_IF = Scenario(id="manager-condition-if", title="if empty: wait", expect=Expect.RACY,
                      build=build_manager_buffer, worker=consume_if, check=never_below_zero, defaults=_SIZE)
MANAGER_WHILE = Scenario(id="manager-condition-while", title="while empty: wait", expect=Expect.SAFE,
                         build=build_manager_buffer, worker=consume_while, check=never_below_zero, defaults=_SIZE)
MANAGER_WHILE_OVER_LOCK = Scenario(id="manager-condition-over-lock", title="while empty: wait, Condition(lock)",
                                   expect=Expect.SAFE, build=build_manager_buffer_over_lock,
                                   worker=consume_while_over_lock, check=never_below_zero, defaults=_SIZE)


def build_manager_plain(share):
    return {"ready": share.manager().Condition(), "woke": share.Value("i", 0, lock=False)}


MANAGER_LOST_NOTIFY = Scenario(id="manager-condition-lost-notify", title="wait with no predicate",
                               expect=Expect.DEADLOCK, build=build_manager_plain, worker=notify_or_wait,
                               check=lambda woke: None, defaults=Defaults(processes=2, ops=1))
MANAGER_TIMED = Scenario(id="manager-condition-timed-wait", title="wait(5.0)", expect=Expect.RACY,
                         build=build_manager_plain, worker=timed, check=timed_out,
                         defaults=Defaults(processes=2, ops=1))


def build_two_waiters(share):
    return {"ready": share.Condition(), "woke": share.Array("i", [-1, -1, -1], lock=False)}


def build_manager_two_waiters(share):
    return {"ready": share.manager().Condition(), "woke": share.Array("i", [-1, -1, -1], lock=False)}


def one_notify_two_waiters(ready, woke, index):
    with ready:
        if index == 0:
            ready.notify()  # one wake-up, for whichever waiter (or a lost one)
        elif index == 1:
            woke[1] = ready.wait(5.0)  # may time out while the notify chooses it: the wake-up is lost
        else:
            woke[2] = ready.wait()


def woken(woke):
    return f"timed waiter {'woken' if woke[1] == 1 else 'timed out'}, other {'woken' if woke[2] == 1 else 'waiting'}"


TWO_WAITERS = Scenario(id="condition-two-waiters", title="one notify, a timed and an untimed waiter",
                       expect=Expect.DEADLOCK, build=build_two_waiters, worker=one_notify_two_waiters,
                       check=woken, defaults=Defaults(processes=3, ops=1))
MANAGER_TWO_WAITERS = Scenario(id="manager-condition-two-waiters", title="one notify, a timed and an untimed waiter",
                               expect=Expect.DEADLOCK, build=build_manager_two_waiters,
                               worker=one_notify_two_waiters, check=woken, defaults=Defaults(processes=3, ops=1))


def build_hold(share):
    return {"ready": share.Condition(), "go": share.Event()}


def build_manager_hold(share):
    return {"ready": share.manager().Condition(), "go": share.Event()}


def notify_and_hold(ready, go, index):
    with ready:
        if index == 0:
            ready.notify()
            go.wait()  # never set: the lock stays held, and the woken waiter cannot re-acquire it
        else:
            ready.wait()


HOLD = Scenario(id="condition-notify-and-hold", title="notify, then wait holding the lock", expect=Expect.DEADLOCK,
                build=build_hold, worker=notify_and_hold, check=lambda go: None, defaults=Defaults(processes=2, ops=1))
MANAGER_HOLD = Scenario(id="manager-condition-notify-and-hold", title="notify, then wait holding the lock",
                        expect=Expect.DEADLOCK, build=build_manager_hold, worker=notify_and_hold,
                        check=lambda go: None, defaults=Defaults(processes=2, ops=1))
