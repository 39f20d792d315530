"""Shared state nested inside what build returns, for the controlled-scheduling tests.

Each shape puts a raw counter and a lock somewhere a user would: in a dict, a list, a
tuple, a dataclass, a namedtuple, an attribute of their own class, and two levels deep
(a list of accounts inside a dict). Every worker does ``count.value += 1``, racy as in
raw-value; the LOCKED twins do it under the lock that sits next to the count.
"""

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

from racecourse import Expect, Scenario


@dataclass
class Box:
    count: Any
    lock: Any


class Pair(NamedTuple):
    count: Any
    lock: Any


class Account:
    """A user's own class wrapping its shared state."""

    def __init__(self, balance, lock):
        self.balance = balance
        self.lock = lock


def add_one(count, lock, locked):
    if locked:
        with lock:
            count.value += 1
    else:
        count.value += 1


def parts(share):
    return share.Value("i", 0, lock=False), share.Lock()


# Per shape: how build nests the count and the lock, and where the worker finds them.
def build_dict(share, locked):
    count, lock = parts(share)
    return {"state": {"count": count, "lock": lock}, "locked": locked}


def in_dict(state, locked):
    add_one(state["count"], state["lock"], locked)


def count_in_dict(state):
    return state["count"].value


def build_list(share, locked):
    return {"counters": list(parts(share)), "locked": locked}


def in_list(counters, locked):
    add_one(counters[0], counters[1], locked)


def count_in_list(counters):
    return counters[0].value


def build_tuple(share, locked):
    return {"pair": parts(share), "locked": locked}


def in_tuple(pair, locked):
    add_one(pair[0], pair[1], locked)


def count_in_tuple(pair):
    return pair[0].value


def build_dataclass(share, locked):
    return {"box": Box(*parts(share)), "locked": locked}


def in_dataclass(box, locked):
    add_one(box.count, box.lock, locked)


def count_in_dataclass(box):
    return box.count.value


def build_namedtuple(share, locked):
    return {"pair": Pair(*parts(share)), "locked": locked}


def in_namedtuple(pair, locked):
    add_one(pair.count, pair.lock, locked)


def count_in_namedtuple(pair):
    return pair.count.value


def build_object(share, locked):
    return {"account": Account(*parts(share)), "locked": locked}


def in_object(account, locked):
    add_one(account.balance, account.lock, locked)


def count_in_object(account):
    return account.balance.value


def build_two_deep(share, locked):
    return {"bank": {"accounts": [Account(*parts(share))]}, "locked": locked}


def two_deep(bank, locked):
    account = bank["accounts"][0]
    add_one(account.balance, account.lock, locked)


def count_two_deep(bank):
    return bank["accounts"][0].balance.value


# shape: (build, worker, observe, the label of the count in a step)
SHAPES = {
    "dict": (build_dict, in_dict, count_in_dict, "state['count']"),
    "list": (build_list, in_list, count_in_list, "counters[0]"),
    "tuple": (build_tuple, in_tuple, count_in_tuple, "pair[0]"),
    "dataclass": (build_dataclass, in_dataclass, count_in_dataclass, "box.count"),
    "namedtuple": (build_namedtuple, in_namedtuple, count_in_namedtuple, "pair.count"),
    "object": (build_object, in_object, count_in_object, "account.balance"),
    "two-deep": (build_two_deep, two_deep, count_two_deep, "bank['accounts'][0].balance"),
}


def scenario(shape, locked):
    build, worker, observe, _ = SHAPES[shape]
    return Scenario(id=f"nested-{shape}{'-locked' if locked else ''}", title=f"count.value += 1 in a {shape}",
                    expect=Expect.SAFE if locked else Expect.RACY, build=functools.partial(build, locked=locked),
                    worker=worker, observe=observe)


RACY = {shape: scenario(shape, False) for shape in SHAPES}
LOCKED = {shape: scenario(shape, True) for shape in SHAPES}


# One lock reached by two paths: half the processes take it as state["lock"], the others
# as guard. Still one lock: the count is safe.
def build_two_paths(share):
    count, lock = parts(share)
    return {"state": {"count": count, "lock": lock}, "guard": lock}


def by_either_path(state, guard, index):
    add_one(state["count"], state["lock"] if index % 2 else guard, True)


TWO_PATHS = Scenario(id="nested-two-paths", title="one lock, two names", expect=Expect.SAFE,
                     build=build_two_paths, worker=by_either_path, observe=count_in_dict)


# A dict that contains itself: walked once.
def build_cycle(share):
    state = {"count": share.Value("i", 0, lock=False)}
    state["itself"] = state
    return {"state": state}


def through_the_cycle(state):
    state["itself"]["count"].value += 1


CYCLE = Scenario(id="nested-cycle", title="a dict that contains itself", expect=Expect.RACY,
                 build=build_cycle, worker=through_the_cycle, observe=count_in_dict)


# A synchronized Value in a dataclass, under its own lock: observe reads it between steps
# (a replay's timeline) while a worker holds that lock.
def build_own_lock(share):
    return {"box": Box(share.Value("i", 0), None)}


def under_own_lock(box):
    with box.count.get_lock():
        box.count.value += 1


OWN_LOCK = Scenario(id="nested-own-lock", title="box.count under its own lock", expect=Expect.SAFE,
                    build=build_own_lock, worker=under_own_lock, observe=count_in_dataclass)


# A Manager dict inside a user's object: its get and set are points, as at the top level.
class Registry:
    def __init__(self, counts):
        self.counts = counts


def build_manager(share):
    return {"registry": Registry(share.manager().dict(hits=0))}


def hit(registry):
    registry.counts["hits"] += 1


def hits(registry):
    return registry.counts["hits"]


MANAGER = Scenario(id="nested-manager", title="a Manager dict in a user's object", expect=Expect.RACY,
                   build=build_manager, worker=hit, observe=hits)


# A user's class whose methods read and add under the Value's own lock, observe included.
class Tally:
    def __init__(self, count):
        self.count = count

    def add(self):
        with self.count.get_lock():
            self.count.value += 1

    def total(self):
        with self.count.get_lock():
            return self.count.value


def build_tally(share):
    return {"tally": Tally(share.Value("i", 0))}


def add_to_tally(tally):
    tally.add()


def tally_total(tally):
    return tally.total()


TALLY = Scenario(id="nested-tally", title="a class that locks in its methods", expect=Expect.SAFE,
                 build=build_tally, worker=add_to_tally, observe=tally_total)
