"""queue-consumers-sentinels: the producer ends the work with one sentinel per consumer.

What is shared: the same as in ``queue-consumers``: a task queue, ``Queue()``, and a
record of the tasks done, ``Array("i", ops, lock=False)``, one slot per task. Process 0
puts the tasks ``0 .. ops-1`` and then one sentinel, ``None``, for each consumer; every
other process takes tasks until it gets a sentinel::

    for task in range(ops):              # producer
        tasks.put(task)
    for _ in range(consumers):
        tasks.put(None)                  # "no more work", one for each consumer

    for task in iter(tasks.get, None):   # consumer: until its sentinel
        done[task] += 1

Why it is safe: a consumer no longer guesses from the queue's state whether the work is
over; it is told, in the queue, by the producer, after the last task. ``get()`` waits
for an item, so a consumer that gets ahead of the producer waits instead of leaving.
Each item, task or sentinel, is taken by exactly one consumer, and the sentinels come
after every task, so no consumer stops while a task is still waiting: every task is done
exactly once, with any number of consumers and in every interleaving (``racecourse
explore`` goes through them all).

Compare ``queue-consumers``, where a consumer that sees the queue empty for an instant
leaves for good.
"""

from racecourse import Defaults, Expect, Scenario


def build(share, processes, ops):
    return {"tasks": share.Queue(), "done": share.Array("i", ops, lock=False), "consumers": processes - 1}


def worker(tasks, done, index, processes):
    if index == 0:
        for task in range(len(done)):
            tasks.put(task)
        for _ in range(processes - 1):
            tasks.put(None)  # one sentinel per consumer, after the last task
    else:
        for task in iter(tasks.get, None):
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
    id="queue-consumers-sentinels",
    title="one None per consumer after the tasks: every task done exactly once",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    check=check,
    defaults=Defaults(processes=2, ops=2_000),
)
