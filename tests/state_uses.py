"""Workers that keep state where frame introspection does not reach, for the state-caching
tests: each has two schedules that reach the same shared memory, code position and locals
with different values hidden elsewhere (the interpreter's value stack, a loop's iterator, a
local overwritten mid-statement). A search that merged them would lose
an outcome the full enumeration reaches; tests/test_control_reduction.py compares them.
The last two keep all their state in frames, so caching applies and must be right."""

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
PLAIN = _scenario("state-in-locals", plain_locals, "every read in a local")
LOCKED = _scenario("state-locked-sums", add_up, "sections whose reads reach the outcome", build=build_locked,
                   observe=sum_seen)
