"""Workers that keep state where frame introspection does not reach, for the state-caching
tests: each has two schedules that reach the same shared memory, code position and locals
with different values hidden elsewhere (the interpreter's value stack, a loop's iterator, a
local overwritten mid-statement, an exception waiting in a finally or except clause). A
search that merged them would lose an outcome the full enumeration reaches;
tests/test_control_reduction.py compares them. The others keep all their state in frames,
so caching applies and must be right."""

from racecourse import Defaults, Expect, Scenario

_SIZE = Defaults(processes=2, ops=1)


def build_pair(share):
    return {"a": share.Value("i", 0, lock=False), "b": share.Value("i", 0, lock=False),
            "seen": share.Value("i", -1, lock=False)}


def seen(seen):
    return seen.value


def on_the_stack(a, b, seen, index):
    if index == 0:
        a.value = 1
        b.value = 1
    else:
        seen.value = a.value * 10 + b.value  # a's value waits on the stack while b is read


def in_a_loop_bound(a, b, seen, index):
    if index == 0:
        a.value = 2
        b.value = 1
    else:
        total = 0
        for _ in range(a.value):  # the bound lives in the loop's iterator, in no local
            total += b.value
        seen.value = total


def overwritten(a, b, seen, index):
    if index == 0:
        a.value = 1
        b.value = 1
    else:
        first = a.value
        first, seen.value = 0, first * 10 + b.value  # first is 0 again when seen is written


def pending_in_finally(a, b, seen, index):
    if index == 0:
        a.value = 1
        b.value = 1
    else:
        try:
            raise ValueError(a.value)  # the exception carries a's value...
        finally:
            seen.value = b.value  # ...and waits on the value stack while b is read


def pending_in_except(a, b, seen, index):
    if index == 0:
        a.value = 1
        b.value = 1
    else:
        try:
            raise ValueError(a.value)  # the exception carries a's value...
        except ValueError:
            seen.value = b.value  # ...and waits while b is read...
            raise  # ...to be raised again


def finally_after_the_body(a, b, seen, index):
    if index == 0:
        a.value = 1
        b.value = 1
    else:
        first = 0
        try:
            first = a.value
        finally:  # reached without an exception: nothing waits but what the frame shows
            seen.value = first * 10 + b.value


def except_then_on(a, b, seen, index):
    if index == 0:
        a.value = 1
        b.value = 1
    else:
        first = 0
        try:
            if a.value:
                raise ValueError("a was set")
            first = 5
        except ValueError:
            first = 1  # the exception is dropped when the clause ends
        seen.value = first * 10 + b.value


def plain_locals(a, b, seen, index):
    if index == 0:
        a.value = 1
        b.value = 1
    else:
        first = a.value
        second = b.value
        seen.value = first * 10 + second


def build_locked(share):
    return {"counts": share.Array("i", 3), "total": share.Value("i", 0)}


def add_up(counts, total, index):
    for slot in range(len(counts)):
        with counts.get_lock():
            counts[slot] += index + 1
    with total.get_lock():
        total.value += counts[2]  # what this process saw of slot 2


def sum_seen(total):
    return total.value


def _scenario(name, worker, title, build=build_pair, observe=seen):
    return Scenario(id=name, title=title, expect=Expect.RACY, build=build, worker=worker, observe=observe,
                    defaults=_SIZE)


STACK = _scenario("state-on-the-stack", on_the_stack, "a read kept on the value stack")
LOOP = _scenario("state-in-a-loop-bound", in_a_loop_bound, "a read kept in a range iterator")
OVERWRITTEN = _scenario("state-overwritten", overwritten, "a local overwritten before a later target")
IN_FINALLY = _scenario("state-pending-in-finally", pending_in_finally, "an exception waiting in a finally clause")
IN_EXCEPT = _scenario("state-pending-in-except", pending_in_except, "an exception waiting in an except clause")
AFTER_BODY = _scenario("state-finally-after-the-body", finally_after_the_body, "a finally clause reached normally")
EXCEPT_THEN_ON = _scenario("state-except-then-on", except_then_on, "an exception handled, then on")
PLAIN = _scenario("state-in-locals", plain_locals, "every read in a local")
LOCKED = _scenario("state-locked-sums", add_up, "sections whose reads reach the outcome", build=build_locked,
                   observe=sum_seen)
