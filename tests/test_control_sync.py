"""The parent's model of blocking objects and lost updates, without any process."""

from racecourse.control.instrument import ACQUIRE, NOTIFY, READ, RELEASE, SLEEP, TRY_ACQUIRE, WAKE, WRITE, Op
from racecourse.control.sync import ConditionResource, LostUpdates, SyncState


def acquire(key, reentrant=False):
    return Op(ACQUIRE, key, key, None, reentrant)


def release(key):
    return Op(RELEASE, key, key, None, False)


def test_a_held_lock_blocks_others_and_a_try_never_waits():
    sync = SyncState()
    sync.apply(0, acquire("a"), True)
    assert not sync.runnable(1, acquire("a"))
    assert sync.runnable(1, Op(TRY_ACQUIRE, "a", "a", None, False))
    assert not sync.runnable(1, Op(READ, "x", "x", "a", False))  # data under the held lock
    assert sync.waiting_text(1, acquire("a")) == "held by process 0"
    sync.apply(0, release("a"), None)
    assert sync.runnable(1, acquire("a"))
    assert sync.still_held() is None


def test_reentrant_depth_and_the_holder_of_a_plain_lock_blocking_itself():
    sync = SyncState()
    sync.apply(0, acquire("r", reentrant=True), True)
    assert sync.runnable(0, acquire("r", reentrant=True))
    sync.apply(0, acquire("r", reentrant=True), True)
    sync.apply(0, release("r"), None)
    assert not sync.runnable(1, acquire("r"))  # depth 1 left: still held
    sync.apply(0, release("r"), None)
    assert sync.runnable(1, acquire("r"))
    sync.apply(1, acquire("p"), True)
    assert not sync.runnable(1, acquire("p"))
    assert sync.deadlock_story({1: acquire("p")}) == "process 1 holds p and waits for p (held by itself)"


def test_deadlock_story_lists_holdings_in_the_order_they_were_taken():
    sync = SyncState()
    for key in ("b", "a"):
        sync.apply(0, acquire(key), True)
    sync.apply(1, acquire("c"), True)
    sync.apply(0, release("b"), None)
    sync.apply(0, acquire("b"), True)  # taken again: now after a
    story = sync.deadlock_story({0: acquire("c"), 1: acquire("a")})
    assert story == ("process 0 holds a, b and waits for c (held by process 1); "
                     "process 1 holds c and waits for a (held by process 0)")
    assert sync.still_held() == (0, "a")


def test_a_write_after_a_stale_read_loses_the_other_process_s_update():
    lost = LostUpdates(counts_updates=True)
    read, write = Op(READ, "n", "n", None, False), Op(WRITE, "n", "n", None, False)
    assert lost.note(0, 0, read, 0) is None
    assert lost.note(1, 1, read, 0) is None
    assert lost.note(2, 1, write, 1) is None
    assert lost.note(3, 0, write, 1) == "overwrites the update process 1 wrote at step 3"
    same_value = LostUpdates(counts_updates=False)  # not a count: storing the same value loses nothing
    for number, (process, op, value) in enumerate([(0, read, 0), (1, read, 0), (1, write, 1), (0, write, 1)]):
        assert same_value.note(number, process, op, value) is None


def test_which_waiter_a_condition_notify_wakes_is_left_to_the_schedule():
    def op(kind):
        return Op(kind, "condition:c", "c", None, False)

    sync = SyncState({"condition:c": lambda: ConditionResource("condition:c", "c")})
    for process in (0, 1):
        sync.apply(process, op(SLEEP), None)
    assert not sync.runnable(0, op(WAKE)) and not sync.runnable(1, op(WAKE))
    sync.apply(2, op(NOTIFY), 1)  # notify(): one wake-up, either waiter may take it
    assert sync.runnable(0, op(WAKE)) and sync.runnable(1, op(WAKE))
    sync.apply(1, op(WAKE), None)
    assert not sync.runnable(0, op(WAKE))
    assert sync.deadlock_story({0: op(WAKE)}) == "process 0 waits to be notified on c (nobody else will notify)"
    sync.apply(3, op(SLEEP), None)  # a waiter that came after the notify is not woken by it
    sync.apply(2, op(NOTIFY), None)  # notify_all(): both waiting now
    assert sync.runnable(0, op(WAKE)) and sync.runnable(3, op(WAKE))
