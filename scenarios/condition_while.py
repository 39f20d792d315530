"""condition-while: every wait on a Condition sits in a ``while`` loop: safe.

What is shared: the same as in ``condition-if``: a bounded buffer of ``CAPACITY`` slots,
``Array("i", CAPACITY, lock=False)``, with ``count`` and ``head``, guarded by one
``Lock`` with two ``Condition``s on it, ``not_empty`` and ``not_full``. Process 0 puts
the items ``0, 1, 2 ...``; every other process takes ``ops`` of them. Each side looks
again every time it wakes::

    with not_empty:                      # consumer
        while count.value == 0:          # empty: wait, and look again once woken
            not_empty.wait()
        item = buffer[head.value]
        head.value = (head.value + 1) % CAPACITY
        count.value -= 1
        not_full.notify()                # a slot is free: wake the producer

Why it is safe: a consumer takes only while it holds the lock and has just seen, with
that lock held, an item in the buffer. ``wait()`` returns with the lock taken back, and
the ``while`` checks the buffer again under it: if another consumer got there first,
the late one finds the buffer empty and waits again instead of taking what is not there.
The producer does the same with a full buffer. Every item is done exactly once, in every
interleaving (``racecourse explore`` goes through them).

Why two Conditions: each ``notify()`` wakes one waiter of the side that can now go on (a
put wakes a consumer, a take wakes the producer). With a single Condition for both, a
``notify()`` could wake a consumer where the producer needed waking, and everyone would
wait for ever; a single Condition needs ``notify_all()``.

The rule is the Condition's own: wait in a loop on the state you need, never on having
been woken. Compare ``condition-if``, where one ``if`` lets a woken consumer take from an
empty buffer.
"""

from racecourse import Defaults, Expect, Scenario

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
                while count.value == CAPACITY:  # full: wait, and look again once woken
                    not_full.wait()
                buffer[(head.value + count.value) % CAPACITY] = item
                count.value += 1
                not_empty.notify()
    else:
        for _ in range(ops):
            with not_empty:
                while count.value == 0:  # empty: wait, and look again once woken
                    not_empty.wait()
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
    id="condition-while",
    title="while empty: condition.wait(): every item done exactly once",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    check=check,
    defaults=Defaults(processes=3, ops=2_000),
)
