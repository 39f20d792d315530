"""condition-if: a consumer waits under ``if``, not ``while``: it takes from an empty buffer.

What is shared: a bounded buffer of ``CAPACITY`` slots, ``Array("i", CAPACITY,
lock=False)``, with the number of items in it, ``count``, and the slot of the oldest one,
``head`` (two ``Value("i", 0, lock=False)``). One ``Lock`` guards them, with two
``Condition``s on it, as in Python's own ``queue.Queue``: ``not_empty``, which consumers
wait on, and ``not_full``, which the producer waits on. Process 0 is the producer: it
puts the items ``0, 1, 2 ...`` one by one. Every other process is a consumer: it takes
``ops`` items::

    with not_empty:                      # consumer
        if count.value == 0:             # empty: wait for the producer...
            not_empty.wait()             # ...woken: and it takes, without looking again
        item = buffer[head.value]
        head.value = (head.value + 1) % CAPACITY
        count.value -= 1
        not_full.notify()                # a slot is free: wake the producer

What goes wrong: ``wait()`` gives the lock up while it sleeps and must take it back
before it returns. Being woken means "the buffer changed", not "there is an item for
you", and another process may take the lock first:

1. consumer A finds the buffer empty and waits;
2. the producer puts one item and wakes A (``not_empty.notify()``);
3. before A has the lock back, consumer B, coming for its next item, takes the lock,
   finds the item and takes it: the buffer is empty again;
4. A gets the lock, returns from ``wait()`` and, under ``if``, does not look again: it
   takes from the empty buffer. It reads whatever the slot held (an item already taken,
   which is done twice), moves ``head`` past a slot the producer has not filled yet, and
   the item the producer puts there next is skipped: it is never done.

The producer's ``if`` before putting is the same mistake; with one producer nothing else
fills the buffer while it sleeps, so here only the consumers' ``if`` bites. It takes
three processes, one producer and two consumers: ``racecourse explore condition-if -p 3``
finds it, and at two processes there is no failing schedule to find. Waking every
waiter (``notify_all()``) does not save ``if`` either: then all of them take.

Each consumer marks the items it took in ``done``, the test's own record
(``share.bookkeeping``: not part of the code under test). The invariant is "every item
is done exactly once".

The fix (``condition-while``): look again after every wake-up, and wait again if the
buffer is still empty. ``while`` instead of ``if``::

    while count.value == 0:
        not_empty.wait()
"""

from racecourse import Acceptable, Defaults, Expect, Interesting, Scenario

CAPACITY = 2


def build(share, processes, ops):
    guard = share.Lock()  # one lock for the buffer, shared by both conditions
    return {
        "not_empty": share.Condition(guard),  # consumers wait on it, the producer notifies it
        "not_full": share.Condition(guard),  # the producer waits on it, consumers notify it
        "buffer": share.Array("i", CAPACITY, lock=False),
        "count": share.Value("i", 0, lock=False),  # items in the buffer
        "head": share.Value("i", 0, lock=False),  # slot of the oldest item
        "done": share.bookkeeping(share.Array("i", ops * (processes - 1))),  # per item: times taken
    }


def worker(not_empty, not_full, buffer, count, head, done, index, ops):
    if index == 0:
        for item in range(len(done)):  # one producer, ops items for each consumer
            with not_full:
                if count.value == CAPACITY:  # full: wait for a consumer
                    not_full.wait()
                buffer[(head.value + count.value) % CAPACITY] = item
                count.value += 1
                not_empty.notify()
    else:
        for _ in range(ops):
            with not_empty:
                if count.value == 0:  # empty: wait for the producer
                    not_empty.wait()  # woken, but another consumer may have taken the item
                item = buffer[head.value]
                head.value = (head.value + 1) % CAPACITY
                count.value -= 1
                not_full.notify()
            with done.get_lock():
                done[item] += 1


def check(done):
    lost = sum(1 for times in done if times == 0)
    twice = sum(1 for times in done if times > 1)
    if lost or twice:
        return f"took from an empty buffer: {lost} of {len(done)} items never done, {twice} done more than once"
    return None


SCENARIO = Scenario(
    id="condition-if",
    title="if empty: condition.wait(): woken, a consumer takes from an empty buffer",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    check=check,
    outcomes=(
        Acceptable("every item done exactly once", when=lambda violation: violation is None),
        Interesting("a consumer woke to an empty buffer: another took the item first",
                    when=lambda violation: violation.startswith("took from an empty buffer")),
    ),
    defaults=Defaults(processes=3, ops=2_000),
)
