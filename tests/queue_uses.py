"""Queue uses for the controlled-scheduling tests, with a Queue, a SimpleQueue and a
Manager's Queue: a consumer that stops when the queue looks empty (racy: the producer may
not have put yet) and one that takes as many items as were sent (safe); a JoinableQueue
whose consumer calls task_done before the work is done (racy: join returns early) and
after (safe); processes that all get from an empty queue, put into a full one, or join
with no consumer (deadlocks); task_done once too often (ValueError); two processes that
each put then get (which item each gets follows from the schedule alone); bounded
Manager queues: a put into a full one (deadlock), two items through one slot (safe), and
producers that check full() before a put (racy: both see room, the second put waits for
ever) against put_nowait (safe)."""

import queue

from racecourse import Defaults, Expect, Scenario

_SIZE = Defaults(processes=2, ops=1)


def build_queue(share, ops):
    return {"tasks": share.Queue(), "handled": share.Value("i", 0, lock=False), "sent": ops}


def build_simple(share, ops):
    return {"tasks": share.SimpleQueue(), "handled": share.Value("i", 0, lock=False), "sent": ops}


def build_manager(share, ops):
    return {"tasks": share.manager().Queue(), "handled": share.Value("i", 0, lock=False), "sent": ops}


def stop_when_empty(tasks, handled, index, ops):
    if index == 0:
        for task in range(ops):
            tasks.put(task)
    else:
        while not tasks.empty():  # empty now: maybe the producer has not put yet
            tasks.get()
            handled.value += 1


def take_all_sent(tasks, handled, index, ops):
    if index == 0:
        for task in range(ops):
            tasks.put(task)
    else:
        for _ in range(ops):
            tasks.get()
            handled.value += 1


def all_handled(handled, sent):
    return None if handled.value == sent else f"{handled.value} of {sent} tasks handled"


def _pair(suffix, build):
    racy = Scenario(id=f"stop-when-empty-{suffix}", title="while not q.empty(): q.get()", expect=Expect.RACY,
                    build=build, worker=stop_when_empty, check=all_handled, defaults=_SIZE)
    safe = Scenario(id=f"take-all-sent-{suffix}", title="q.get() for each item sent", expect=Expect.SAFE,
                    build=build, worker=take_all_sent, check=all_handled, defaults=_SIZE)
    return racy, safe


EMPTY_QUEUE, ALL_QUEUE = _pair("queue", build_queue)
EMPTY_SIMPLE, ALL_SIMPLE = _pair("simple", build_simple)
EMPTY_MANAGER, ALL_MANAGER = _pair("manager", build_manager)


def build_joinable(share, ops):
    return {"tasks": share.JoinableQueue(), "handled": share.Value("i", 0, lock=False),
            "seen": share.Value("i", -1, lock=False), "sent": ops}


def build_manager_joinable(share, ops):
    return {"tasks": share.manager().JoinableQueue(), "handled": share.Value("i", 0, lock=False),
            "seen": share.Value("i", -1, lock=False), "sent": ops}


def done_too_early(tasks, handled, seen, index, ops):
    if index == 0:
        for task in range(ops):
            tasks.put(task)
        tasks.join()  # returns once every task is marked done
        seen.value = handled.value
    else:
        for _ in range(ops):
            tasks.get()
            tasks.task_done()  # marked done before the work
            handled.value += 1


def done_when_done(tasks, handled, seen, index, ops):
    if index == 0:
        for task in range(ops):
            tasks.put(task)
        tasks.join()
        seen.value = handled.value
    else:
        for _ in range(ops):
            tasks.get()
            handled.value += 1
            tasks.task_done()


def join_saw_all(seen, sent):
    return None if seen.value == sent else f"join returned with {seen.value} of {sent} tasks handled"


EARLY_DONE = Scenario(id="task-done-too-early", title="task_done, then the work", expect=Expect.RACY,
                      build=build_joinable, worker=done_too_early, check=join_saw_all, defaults=_SIZE)
DONE = Scenario(id="task-done-when-done", title="the work, then task_done", expect=Expect.SAFE,
                build=build_joinable, worker=done_when_done, check=join_saw_all, defaults=_SIZE)
MANAGER_EARLY_DONE = Scenario(id="manager-task-done-too-early", title="task_done, then the work", expect=Expect.RACY,
                              build=build_manager_joinable, worker=done_too_early, check=join_saw_all,
                              defaults=_SIZE)
MANAGER_DONE = Scenario(id="manager-task-done-when-done", title="the work, then task_done", expect=Expect.SAFE,
                        build=build_manager_joinable, worker=done_when_done, check=join_saw_all, defaults=_SIZE)


def build_empty(share):
    return {"tasks": share.Queue()}


def get_first(tasks, index):
    tasks.get()  # everyone waits for an item nobody has put yet
    tasks.put(index)


NOBODY_PUTS = Scenario(id="everyone-gets-first", title="get, then put", expect=Expect.DEADLOCK, build=build_empty,
                       worker=get_first, check=lambda tasks: None, defaults=_SIZE)


def build_bounded(share):
    return {"slots": share.Queue(1)}


def put_two(slots):
    slots.put("a")
    slots.put("b")  # one slot: waits for a get that never comes


FULL = Scenario(id="put-into-full", title="two puts into Queue(1)", expect=Expect.DEADLOCK, build=build_bounded,
                worker=put_two, check=lambda slots: None, defaults=Defaults(processes=1, ops=1))


def build_join(share):
    return {"tasks": share.JoinableQueue()}


def join_alone(tasks):
    tasks.put("job")
    tasks.join()  # nobody will take the job and call task_done


NO_CONSUMER = Scenario(id="join-without-consumer", title="put, join, no consumer", expect=Expect.DEADLOCK,
                       build=build_join, worker=join_alone, check=lambda tasks: None,
                       defaults=Defaults(processes=1, ops=1))


def done_twice(tasks):
    tasks.put("job")
    tasks.get()
    tasks.task_done()
    tasks.task_done()


TOO_MANY_DONE = Scenario(id="task-done-twice", title="task_done once too often", expect=Expect.ERROR,
                         raises=ValueError, build=build_join, worker=done_twice, check=lambda tasks: None,
                         defaults=Defaults(processes=1, ops=1))


def build_exchange(share):
    return {"tasks": share.Queue(), "got": share.Array("i", [-1, -1], lock=False)}


def put_then_get(tasks, got, index):
    tasks.put(index)
    got[index] = tasks.get()


def who_got_what(got):
    return f"process 0 got {got[0]}, process 1 got {got[1]}"  # every outcome reported, to compare replays


EXCHANGE = Scenario(id="put-then-get", title="each puts, then gets", expect=Expect.RACY, build=build_exchange,
                    worker=put_then_get, check=who_got_what, defaults=_SIZE)


def build_leftovers(share):
    return {"tasks": share.JoinableQueue(), "got": share.Array("i", [-1, -1], lock=False)}


def put_if_empty_then_get(tasks, got, index):
    saw_empty = tasks.empty()
    if saw_empty:
        tasks.put(index)
    got[index] = tasks.get()  # waits forever if the other process took the only item
    if saw_empty:
        tasks.put(index)  # left over for the next one (who may never come)


def got_and_left(tasks, got):
    return f"got {got[0]} and {got[1]}, {tasks.qsize()} left"


LEFTOVERS = Scenario(id="put-if-empty", title="put if empty, then get", expect=Expect.RACY, build=build_leftovers,
                     worker=put_if_empty_then_get, check=got_and_left, defaults=_SIZE)


def build_one_slot(share, ops):
    return {"tasks": share.Queue(1), "handled": share.Value("i", 0, lock=False), "sent": 2 * ops}


def two_through_one_slot(tasks, handled, index, ops):
    if index == 0:
        for task in range(2 * ops):
            tasks.put(task)  # the second waits until the consumer made room
    else:
        for _ in range(2 * ops):
            tasks.get()
            handled.value += 1


ONE_SLOT = Scenario(id="one-slot", title="two items through Queue(1)", expect=Expect.SAFE, build=build_one_slot,
                    worker=two_through_one_slot, check=all_handled, defaults=_SIZE)


# -- bounded Manager queues (share.manager().Queue(maxsize)): a put into a full one waits


MANAGER_FULL = Scenario(id="manager-put-into-full", title="two puts into a Manager's Queue(1)",
                        expect=Expect.DEADLOCK, build=lambda share: {"slots": share.manager().Queue(1)},
                        worker=put_two, check=lambda slots: None, defaults=Defaults(processes=1, ops=1))


def build_manager_one_slot(share, ops):
    return dict(build_one_slot(share, ops), tasks=share.manager().Queue(1))


MANAGER_ONE_SLOT = Scenario(id="manager-one-slot", title="two items through a Manager's Queue(1)",
                            expect=Expect.SAFE, build=build_manager_one_slot, worker=two_through_one_slot,
                            check=all_handled, defaults=_SIZE)


def build_offers(share, processes):
    return {"slots": share.manager().Queue(1), "dropped": share.Value("i", 0, lock=False), "offered": processes}


def offer_if_room(slots, dropped, index):
    if not slots.full():  # room now: the other process may take it before this put
        slots.put(index)
    else:
        dropped.value += 1


def offer_or_drop(slots, dropped, index):
    try:
        slots.put_nowait(index)  # one request: room is checked and taken at once
    except queue.Full:  # from the Manager's server
        dropped.value += 1


def one_kept(slots, dropped, offered):
    kept = slots.qsize()
    return None if kept == 1 and kept + dropped.value == offered else f"{kept} kept, {dropped.value} dropped"


OFFER_IF_ROOM = Scenario(id="offer-if-room", title="if not q.full(): q.put(x)", expect=Expect.DEADLOCK,
                         build=build_offers, worker=offer_if_room, check=one_kept, defaults=_SIZE)
OFFER_OR_DROP = Scenario(id="offer-or-drop", title="q.put_nowait(x), dropped if full", expect=Expect.SAFE,
                         build=build_offers, worker=offer_or_drop, check=one_kept, defaults=_SIZE)
