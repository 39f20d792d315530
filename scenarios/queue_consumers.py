"""queue-consumers: a consumer stops when the queue looks empty: tasks are never done.

What is shared: a task queue, ``Queue()``, and a record of the tasks done,
``Array("i", ops, lock=False)``, one slot per task (only the consumer that got a task
writes its slot). Process 0 is the producer: it puts the tasks ``0 .. ops-1`` on the queue.
Every other process is a consumer: it takes tasks and does them until, it decides, there
is no more work::

    while not tasks.empty():             # check: "is there more work?"
        task = tasks.get()               # act: take it
        done[task] += 1

What goes wrong: ``empty()`` answers for one instant only. "Empty now" does not mean "no
more work", only that the producer has not put the next task yet:

1. the consumer starts before the producer has put anything (or gets ahead of it);
2. it asks ``empty()``, the answer is yes, and it leaves the loop for good;
3. the producer goes on putting tasks that nobody will ever take: they are lost.

With more than one consumer the same check-then-act has a second way to go wrong: two
consumers both see one task left, both call ``get()``, one takes it and the other waits
for a task that never comes (a hang: stress reports a timeout, explore a deadlock).
A shared "tasks done" counter checked before ``get()`` goes wrong the same two ways:
the check and the take are separate steps, and the queue changes between them.

The invariant is "every task is done exactly once". The check reads the record.

The fix (``queue-consumers-sentinels``): the producer, who alone knows when the work is
over, says so in the queue itself: after the tasks it puts one sentinel (``None``) per
consumer, and each consumer takes tasks until it gets a sentinel::

    for task in iter(tasks.get, None):
        done[task] += 1
"""

from racecourse import Acceptable, Defaults, Expect, Interesting, Scenario


def build(share, processes, ops):
    return {"tasks": share.Queue(), "done": share.Array("i", ops, lock=False), "consumers": processes - 1}


def worker(tasks, done, index):
    if index == 0:
        for task in range(len(done)):
            tasks.put(task)
    else:
        while not tasks.empty():  # check: empty right now, maybe not for long
            task = tasks.get()  # act: on an answer that may be stale already
            done[task] += 1


def check(done, consumers):
    if consumers == 0:
        return None  # a producer alone: nobody was meant to do the tasks
    lost = sum(1 for count in done if count == 0)
    twice = sum(1 for count in done if count > 1)
    if lost or twice:
        return f"tasks lost: {lost} of {len(done)} never done, {twice} done more than once"
    return None


SCENARIO = Scenario(
    id="queue-consumers",
    title="while not queue.empty(): queue.get(): a consumer quits early, tasks are lost",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    check=check,
    outcomes=(
        Acceptable("every task done exactly once", when=lambda violation: violation is None),
        Interesting("tasks lost: a consumer saw the queue empty before the producer was done",
                    when=lambda violation: violation.startswith("tasks lost")),
    ),
    defaults=Defaults(processes=2, ops=2_000),
)
