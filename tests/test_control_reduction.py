"""The exhaustive search's reduction: critical sections as single transitions, sleep sets
over them, the lockset check that falls back to single operations, semaphore acquires
that commute while there is room. It must keep every distinct outcome, deadlock and
error of the full enumeration; and the counts it runs follow from theory, derived next to
each test. Deterministic: the parent decides every interleaving."""

from __future__ import annotations

import pathlib
from math import factorial
from typing import Iterable, Set, Tuple

import pytest

from racecourse import catalogue
from racecourse.control import Controller, Uncontrollable, explore
from racecourse.control.strategies import Exhaustive
from support import start_methods

METHODS = start_methods()
USES = str(pathlib.Path(__file__).with_name("semaphore_uses.py"))
STATE_USES = str(pathlib.Path(__file__).with_name("state_uses.py"))
# Every scenario of the tests' use files that control can run (refused_uses: none can).
USE_FILES = sorted(str(path) for path in pathlib.Path(__file__).parent.glob("*_uses.py") if path.name != "refused_uses.py")
# Worker scenarios that control refuses (as in test_control_explore).
REFUSED = {"global-counter", "remote-manager", "remote-manager-locked"}
# check-then-act's 2 x 1 (10 accounts, a check-and-withdraw loop on each) has more than
# 3,000 classes even under sleep sets over single operations: no size of it is affordable.
TOO_BIG = {"check-then-act"}
CONTROLLABLE = [scenario for scenario in catalogue.builtin() if scenario.worker is not None
                and scenario.id not in REFUSED | TOO_BIG]
# loop_uses' hidden-poller polls where no state can be told: every search of it stops at
# the step limit (test_control_loops), so there is nothing to compare.
ENDLESS = {"hidden-poller"}
USE_SCENARIOS = [scenario for path in USE_FILES for scenario in catalogue.resolve(path)
                 if scenario.worker is not None and scenario.id not in ENDLESS]
# The full enumeration is run only where it stays small (a few hundred schedules at most),
# and past 2 x 1 only for scenarios whose 2 x 1 has at most 40 classes.
FULL_BUDGET = 600

Kinds = Set[Tuple[str, str, Tuple[str, ...]]]


def kinds(executions: Iterable) -> Kinds:
    """What can happen: each outcome with its deadlock story or the loop of its livelock,
    and the errors raised."""
    return {(execution.outcome, execution.deadlock or execution.loop or "",
             tuple(sorted(summary for summary, _ in execution.errors.values()))) for execution in executions}


def search(controller: Controller, budget=None, **options) -> Tuple[Exhaustive, Kinds]:
    exhaustive = Exhaustive(**options)
    found = kinds(exhaustive.executions(controller, budget))
    return exhaustive, found


# One start method per interpreter, rotating over the matrix (tests/conftest.py): the search is the same code under each.
@pytest.mark.start_method_rotates
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario", CONTROLLABLE + USE_SCENARIOS, ids=lambda scenario: scenario.id)
def test_the_reduction_keeps_every_outcome_deadlock_and_error_of_the_full_enumeration(method, scenario):
    if scenario.expect.under(method).value == "skip":
        pytest.skip(f"{scenario.id} does not run under {method}")
    compared = []
    # The use files' scenarios at 2 x 1 only: there are many of them, and some are long.
    for processes, ops in [(2, 1)] if scenario in USE_SCENARIOS else [(2, 1), (3, 1), (2, 2)]:
        try:
            controller = Controller(scenario, processes, ops, method)
        except Uncontrollable:
            assert scenario in USE_SCENARIOS  # refused on purpose (bookkeeping_uses's shared-lock)
            pytest.skip(f"control refuses {scenario.id}")
        with controller:
            # The reference: every interleaving where they are few; else sleep sets over
            # single operations (raw-array's 2 x 1 has C(16, 8) = 12,870 interleavings).
            reference, everything = search(controller, FULL_BUDGET, reduction=False)
            if not reference.complete:
                reference, everything = search(controller, FULL_BUDGET, reduction=True, sections=False)
            if not reference.complete:
                continue
            reduced, found = search(controller, reduction=True)
            assert reduced.complete
            assert found == everything, (scenario.id, processes, ops)
            # A search that began again (module-lock under spawn: each process locks its own
            # copy of the lock, so the count is unprotected) counts the schedules of both runs.
            assert reduced.explored <= reference.explored or reduced.restarts
        compared.append((processes, ops))
        if reference.explored > 40:
            break  # larger sizes would pass the budget: spare CI the attempt
    assert (2, 1) in compared


def schedules(scenario_id: str, processes: int, ops: int, method: str, **options) -> Tuple[int, int]:
    """Complete and pruned schedules of an exhaustive search."""
    with Controller(catalogue.resolve_one(scenario_id), processes, ops, method) as controller:
        exhaustive, _ = search(controller, **options)
    assert exhaustive.complete and not exhaustive.restarts
    return exhaustive.explored, exhaustive.pruned


@pytest.mark.parametrize("method", METHODS)
def test_locked_array_2x1_runs_one_schedule_per_order_of_the_sections_on_each_slot(method):
    # Without state caching. Each process runs one critical section per slot (4 slots), slot 0
    # first. A section is one transition, and two sections commute unless they touch the same
    # slot, so a schedule's equivalence class (Mazurkiewicz trace) is fixed by the order of
    # the two processes' sections on each slot: 2 orders per slot, chosen independently (no
    # choice can contradict program order: at 1 op each process visits slot i before slot i+1,
    # and an order on slot i cannot force one on slot j < i), so 2**4 = 16 classes. Sleep sets
    # run exactly one complete schedule per class.
    assert schedules("locked-array", 2, 1, method, reduction=True, states=False)[0] == 2 ** 4
    # Today's sleep sets, over single operations: every acquire of the one lock depends on
    # every other, so every order of the 8 sections, 4 per process: C(8, 4) = 70.
    assert schedules("locked-array", 2, 1, method, reduction=True, sections=False, states=False) == (70, 0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario_id, sections", [("locked-array", 4), ("locked-value", 1)])
@pytest.mark.parametrize("processes, ops", [(2, 1), (3, 1), (2, 2)])
def test_state_caching_visits_each_state_once(method, scenario_id, sections, processes, ops):
    # With state caching. locked-array: between two sections, each process's state is how
    # many of its 4 * ops sections (one per slot, ops times) it has run: its frame's position
    # and locals (slot, _, counts, ops) say that and nothing else (the value a section read
    # is in no local once its += is done), and the array holds, per slot, how many sections
    # on it ran: a function of those counts. So the states are the vectors of counts,
    # (4 * ops + 1) ** processes of them (locked-value: 1 section per op, the count their
    # sum, (ops + 1) ** processes), all reachable (any process may be the one to go next); each one but the final
    # state (where no choice is left) is stored once, when its subtree is done. A schedule
    # runs to its end only when it enters the final state, from one of its `processes`
    # predecessors (one process has its last section left). The last sections all touch
    # slot 3 (locked-value: the count), so none commutes with another and no sleep set prunes any of those entries:
    # exactly `processes` complete schedules, each with one order of the critical
    # sections; every other schedule reaches a stored state and stops there.
    with Controller(catalogue.resolve_one(scenario_id), processes, ops, method) as controller:
        exhaustive, found = search(controller, reduction=True)
    assert exhaustive.complete and not exhaustive.restarts
    assert len(exhaustive.visited.sleeping) == (sections * ops + 1) ** processes - 1
    assert exhaustive.explored == processes
    assert found == {(f"count={sections * processes * ops}", "", ())}


@pytest.mark.parametrize("method", METHODS)
def test_sections_on_the_same_data_keep_every_order(method):
    # Without state caching (the test above counts with it). locked-value and lock-value:
    # every section reads and writes the one count, so no two sections commute and every order
    # of them is its own class: at 2 x 2, 4 sections, 2 per process in program order:
    # 4! / (2! 2!) = 6; at 3 x 1, 3! = 6. No schedule is pruned: sections that all conflict never leave
    # a process asleep.
    for scenario_id in ("locked-value", "lock-value"):
        assert schedules(scenario_id, 2, 2, method, reduction=True, states=False) == (factorial(4) // 4, 0)
        assert schedules(scenario_id, 3, 1, method, reduction=True, states=False) == (factorial(3), 0)


@pytest.mark.parametrize("method", METHODS)
def test_raw_value_counts_are_the_orders_of_its_conflicting_operations(method):
    # Without state caching: the classes themselves. raw-value has no lock: the reduction's
    # transitions are single operations, the read r and the write w of each +=. Every
    # operation touches the one count and every pair but two reads conflicts, so a class is an
    # interleaving up to swapping adjacent reads of different processes. 2 x 1: interleavings
    # of r0 w0 and r1 w1 are C(4, 2) = 6; the ones that differ only by the order of the two
    # adjacent reads pair up (r0 r1 w0 w1 ~ r1 r0 w0 w1, r0 r1 w1 w0 ~ r1 r0 w1 w0): 6 - 2 = 4
    # classes.
    assert schedules("raw-value", 2, 1, method, reduction=True, states=False)[0] == 4
    # 2 x 2: process 0 runs r1 w1 r2 w2, process 1 runs R1 W1 R2 W2: C(8, 4) = 70
    # interleavings. Take as each class's representative the one where no read of process
    # 1 comes right before a read of process 0 (swap such pairs); classes = 70 minus the
    # interleavings with some "Ri rj" adjacent. Gluing Ri rj into one step leaves the
    # prefixes before them (2(j-1) and 2(i-1) steps) and the suffixes after them (3-2(j-1)
    # and 3-2(i-1) steps) to interleave: (1,1): 1 * C(6,3) = 20; (1,2): 1 * C(4,1) = 4;
    # (2,1): 4; (2,2): C(4,2) * C(2,1) = 12; sum 40. Two adjacencies at once: only (1,1)
    # with (2,2) (R1 r1 .. R2 r2: w1, W1 between, w2, W2 after: 2 * 2 = 4); (1,2) with
    # (2,1) would put R2 before R1. Inclusion-exclusion: 40 - 4 = 36, so 70 - 36 = 34.
    # (2 x 1 the same way: 6 - C(2,1) = 4.) classes_of_raw_value counts them by brute force.
    assert classes_of_raw_value(2, 2) == 34
    assert schedules("raw-value", 2, 2, method, reduction=True, states=False)[0] == 34


def classes_of_raw_value(processes: int, ops: int) -> int:
    """Mazurkiewicz classes of raw-value's interleavings: every interleaving of the
    processes' read/write sequences, canonicalised by sorting each run of adjacent reads
    (reads of one count commute; nothing else does)."""
    programs = [["r", "w"] * ops for _ in range(processes)]
    classes = set()

    def walk(positions, trace):
        if all(position == len(program) for position, program in zip(positions, programs)):
            canonical, run = [], []
            for step in trace + [("end", -1)]:
                if step[0] == "r":
                    run.append(step)
                else:
                    canonical.extend(sorted(run))
                    run = []
                    canonical.append(step)
            classes.add(tuple(canonical))
            return
        for process, program in enumerate(programs):
            if positions[process] < len(program):
                moved = list(positions)
                moved[process] += 1
                walk(moved, trace + [(program[positions[process]], process)])

    walk([0] * processes, [])
    return len(classes)


def test_the_brute_force_class_count_agrees_with_the_hand_count_at_2x1():
    assert classes_of_raw_value(2, 1) == 4  # the derivation in the test above
    assert classes_of_raw_value(1, 3) == 1


@pytest.mark.parametrize("method", METHODS)
def test_semaphore_acquires_commute_while_two_slots_are_free(method):
    # semaphore-two-slots at 3 x 1, Semaphore(2): each process acquires the semaphore,
    # runs two sections on the one count, releases. The first two acquires happen while
    # the count is 2, so they commute: the new reduction explores fewer schedules than
    # sleep sets over single operations, with the same outcomes (see the test above).
    scenario = catalogue.resolve_one(f"{USES}:SEMAPHORE")
    with Controller(scenario, 3, 1, method) as controller:
        new, found = search(controller, reduction=True, states=False)
        old, before = search(controller, reduction=True, sections=False, states=False)
    assert found == before and new.complete and old.complete
    assert new.explored < old.explored


@pytest.mark.parametrize("method", METHODS)
def test_data_touched_outside_its_lock_falls_back_to_single_operations(method, tmp_path):
    # One process increments under the lock, the other without it: the lockset check finds
    # the count unprotected, the search begins again with that access its own transition,
    # and the lost update (count=1) is still found, as the full enumeration finds it.
    source = (
        "from racecourse import Scenario, Expect\n"
        "def build(share):\n"
        "    return {'lock': share.Lock(), 'count': share.Value('i', 0, lock=False)}\n"
        "def worker(lock, count, index):\n"
        "    if index == 0:\n"
        "        with lock:\n"
        "            count.value += 1\n"
        "    else:\n"
        "        count.value += 1\n"
        "SCENARIO = Scenario(id='half-locked', title='one += under the lock, one without', expect=Expect.RACY,\n"
        "                    build=build, worker=worker, observe=lambda count: count.value,\n"
        "                    expected=lambda processes, ops: processes)\n"
    )
    path = tmp_path / "half_locked.py"
    path.write_text(source)
    scenario = catalogue.resolve_one(f"{path}:SCENARIO")
    with Controller(scenario, 2, 1, method) as controller:
        full, everything = search(controller, reduction=False)
        reduced, found = search(controller, reduction=True)
    assert reduced.restarts == 1 and reduced.complete
    assert found == everything and any("lost" in outcome for outcome, _, _ in found)


@pytest.mark.parametrize("method", METHODS)
def test_a_budget_spent_when_only_pruned_schedules_remain_is_a_complete_search(method):
    # locked-array 2 x 1 runs 16 complete schedules and prunes some after the last one
    # (sleep sets find them covered): a budget of exactly 16 still ends complete, and the
    # pruned ones are counted apart; a budget of 15 does not.
    complete, pruned = schedules("locked-array", 2, 1, method, reduction=True)
    assert pruned  # the case this test is about
    scenario = catalogue.resolve_one("locked-array")
    with Controller(scenario, 2, 1, method) as controller:
        result = explore(scenario, controller=controller, budget=complete)
        assert (result.schedules, result.complete, result.pruned) == (complete, True, pruned)
        short = explore(scenario, controller=controller, budget=complete - 1)
        assert (short.schedules, short.complete) == (complete - 1, False)


def test_state_caching_trusts_only_code_whose_state_is_in_its_frames():
    # What control.states reads from a worker's source. A loop over range(a.value) keeps
    # the read in its iterator, and "first, seen.value = 0, ..." overwrites a local while a
    # later target is still to be written: neither is cached. A read waiting on the value
    # stack is cached: the values the current statement received are part of the state.
    import state_uses

    from racecourse.control.states import analyse

    def trusted(function):
        return analyse(function.__code__, function.__globals__) is not None

    assert not trusted(state_uses.in_a_loop_bound)
    assert not trusted(state_uses.overwritten)
    assert trusted(state_uses.on_the_stack) and trusted(state_uses.plain_locals) and trusted(state_uses.add_up)
    assert trusted(catalogue.resolve_one("locked-array").worker)
    # try/except/finally is trusted: an operation made while an exception waits in one of
    # its clauses is what is not cached, at run time (the full enumeration comparison above
    # runs state-pending-in-finally and -in-except, which merged would lose ValueError: 0).
    assert all(trusted(worker) for worker in (state_uses.pending_in_finally, state_uses.pending_in_except,
                                              state_uses.finally_after_the_body, state_uses.except_then_on))
    assert trusted(catalogue.resolve_one("semaphore-bounded").worker)  # try/finally and time.sleep


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario_id", ["locked-array", "lock-value", "raw-value",
                                         "event-handshake-after-write", f"{STATE_USES}:LOCKED",
                                         "semaphore-bounded", f"{STATE_USES}:AFTER_BODY",
                                         f"{STATE_USES}:EXCEPT_THEN_ON"])
def test_state_caching_prunes_where_it_applies(method, scenario_id):
    # The comparison with the full enumeration above is about caching only where caching
    # happens: here it does (a schedule stopped at a state already explored).
    scenario = catalogue.resolve_one(scenario_id)
    if scenario.expect.under(method).value == "skip":
        pytest.skip(f"{scenario.id} does not run under {method}")
    with Controller(scenario, 3, 1, method) as controller:
        exhaustive, _ = search(controller, reduction=True)
    assert exhaustive.complete and exhaustive.cached


@pytest.mark.parametrize("method", METHODS)
def test_state_caching_keeps_a_violation_seen_only_in_bookkeeping(method):
    # semaphore-by-hand counts who is inside in crowd, a bookkeeping Array: its updates are
    # no operations, so no footprint shows them, and a transition that lets a process in
    # would pass for independent of one that lets another out, though the most ever inside
    # (the check's crowd[1]) depends on their order. The cached state holds crowd's bytes,
    # so a search that trusted those footprints stored states that hid the third process
    # and lost the violation (18 complete schedules, "invariant holds" only). A transition
    # that changes bookkeeping bytes counts as a write to one bookkeeping place.
    scenario = catalogue.resolve_one("semaphore-by-hand")
    with Controller(scenario, 3, 1, method) as controller:
        cached, found = search(controller, reduction=True)
        _, reference = search(controller, reduction=True, states=False)
    assert cached.complete and cached.cached
    assert found == reference
    assert any(outcome.startswith("3 processes were inside") for outcome, _, _ in found)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name, outcomes", [
    ("IN_FINALLY", {"error in process 1: ValueError: 0", "error in process 1: ValueError: 1"}),
    ("IN_EXCEPT", {"error in process 1: ValueError: 0", "error in process 1: ValueError: 1"}),
    ("AFTER_BODY", {"count=0 (expected 2, 2 lost)", "count=1 (expected 2, 1 lost)",
                    "count=10 (expected 2, 8 too many)", "count=11 (expected 2, 9 too many)"}),
    ("EXCEPT_THEN_ON", {"count=10 (expected 2, 8 too many)", "count=11 (expected 2, 9 too many)",
                        "count=50 (expected 2, 48 too many)", "count=51 (expected 2, 49 too many)"}),
])
def test_try_workers_at_2x1_run_one_schedule_per_order_of_their_two_races(method, name, outcomes):
    # state_uses' try workers at 2 x 1: process 0 writes a then b (2 operations), process 1
    # reads a, reads b, writes seen (3; in IN_FINALLY and IN_EXCEPT the read of b is made
    # while the exception carrying a's value is handled). Every interleaving: C(5, 2) = 10.
    # The dependent pairs are (write a, read a) and (write b, read b); seen is process 1's
    # alone. All four orders of the two pairs fit both programs (read a < write a < write b
    # < read b; write a < read a < read b < write b; and the two in-order ones), so sleep
    # sets run 4 schedules. Caching merges none: a state repeats only if two prefixes
    # differ in the order of a pair, and then process 1 differs (first holds a's value), or
    # is inside the handled exception, which is not cached. The outcomes: the value read
    # from a (and from b, where seen is the outcome: first * 10 + b, first 5 when
    # EXCEPT_THEN_ON saw a unset).
    scenario = catalogue.resolve_one(f"{STATE_USES}:{name}")
    with Controller(scenario, 2, 1, method) as controller:
        everything, every_kind = search(controller, reduction=False)
        reduced, reduced_kinds = search(controller, reduction=True, states=False)
        cached, cached_kinds = search(controller, reduction=True)
    assert (everything.explored, reduced.explored, cached.explored, cached.cached) == (10, 4, 4, 0)
    assert {outcome for outcome, _, _ in every_kind} == outcomes
    assert reduced_kinds == cached_kinds == every_kind
