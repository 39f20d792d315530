"""Controlled scheduling over the built-in catalogue: counts, proofs at small sizes, races
found at the smallest size, deadlocks, the start-method trap, reproducible replays.

Everything here is deterministic: the parent decides every interleaving, so a test either
always passes or always fails. The catalogue is iterated, so new scenarios are covered.
"""

from __future__ import annotations

import multiprocessing
from math import factorial
from typing import Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, find, settings

from racecourse import Expect, catalogue
from racecourse.control import Controller, Uncontrollable, explore, follow, parse_schedule, replay
from racecourse.control.hypothesis import choices, sizes
from support import start_methods

METHODS = start_methods()
BUILTIN = catalogue.builtin()


# Worker scenarios that control refuses: global-counter shares nothing, and the remote
# Manager workers connect to their server themselves, with proxies control never sees.
REFUSED = {"global-counter", "remote-manager", "remote-manager-locked"}


def controllable(scenario) -> bool:
    return scenario.worker is not None and scenario.id not in REFUSED


def interleavings(processes: int, points: int) -> int:
    """Ways to interleave ``processes`` sequences of ``points`` steps each."""
    return factorial(processes * points) // factorial(points) ** processes


# -- counts agree with combinatorics (reduction off) -------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("processes, ops", [(1, 3), (2, 1), (2, 2), (3, 1)])
def test_exhaustive_count_is_the_number_of_interleavings(method, processes, ops):
    # raw-value: each += is a read point and a write point, so 2*ops points per process.
    result = explore(catalogue.resolve_one("raw-value"), processes=processes, ops=ops, reduction=False,
                     start_method=method)
    assert result.complete
    assert result.schedules == interleavings(processes, 2 * ops)  # 1, 6, 70, 90
    assert sum(result.outcomes.values()) == result.schedules


@pytest.mark.parametrize("method", METHODS)
def test_exhaustive_count_with_locks_is_the_number_of_critical_section_orders(method):
    # locked-value 3 x 2: while one process is inside its critical section the others wait
    # at the acquire, so a schedule is an order of the 6 sections: 6! / (2!)^3 = 90.
    result = explore(catalogue.resolve_one("locked-value"), processes=3, ops=2, reduction=False,
                     start_method=method)
    assert (result.complete, result.schedules, result.failing) == (True, interleavings(3, 2), 0)


@pytest.mark.parametrize("method", METHODS)
def test_reduction_keeps_every_outcome_and_runs_fewer_schedules(method):
    scenario = catalogue.resolve_one("raw-value")
    full = explore(scenario, processes=2, ops=2, reduction=False, start_method=method)
    reduced = explore(scenario, processes=2, ops=2, reduction=True, start_method=method)
    assert reduced.complete and set(reduced.outcomes) == set(full.outcomes)
    assert reduced.schedules < full.schedules
    own = explore(catalogue.resolve_one("own-slot-array"), processes=3, ops=2, start_method=method)
    assert (own.complete, own.schedules, own.failing) == (True, 1, 0)  # all independent: one trace


# One start method per interpreter, rotating over the matrix (tests/conftest.py): the search is the same code under each.
@pytest.mark.start_method_rotates
@pytest.mark.parametrize("method", METHODS)
def test_reduction_finds_every_outcome_that_full_enumeration_finds(method):
    # Sleep sets must only skip schedules that reorder independent operations: at 2 x 1,
    # wherever full enumeration is small enough to finish, both find the same outcomes.
    compared = []
    for scenario in BUILTIN:
        if not controllable(scenario):
            continue
        with Controller(scenario, 2, 1, method) as controller:
            full = explore(scenario, reduction=False, budget=300, controller=controller)
            if not full.complete:
                continue  # raw-array (C(16, 8) = 12,870 interleavings), check-then-act
            reduced = explore(scenario, reduction=True, controller=controller)
        assert reduced.complete and reduced.schedules <= full.schedules
        assert set(reduced.outcomes) == set(full.outcomes), scenario.id
        compared.append(scenario.id)
    assert {"raw-value", "locked-array", "manager-dict", "deadlock", "module-lock"} <= set(compared)


# -- safe scenarios: no failing schedule up to 3 x 2 -------------------------------------------

SIZES = [(p, k) for p in (1, 2, 3) for k in (1, 2)] + [(4, 1)]
# Exhaustive budget per size. Every safe scenario is explored completely at every size up to
# 3 x 2 and at 4 x 1, locked-array included: the orders of its critical sections on the one
# lock are all distinct classes (24!/(8!)^3, about 9.7e9, at 3 x 2), but state caching
# merges the schedules that leave each process equally far (3 complete schedules at 3 x 2).
# A size that did not finish would be sampled at random as well, and fail the test.
# (queue-consumers-sentinels, whose queue is not cached, runs 252 schedules at 4 x 1.)
# semaphore-bounded too, whose worker gives its place back in a finally clause: the orders of
# its tries and releases on the semaphore are all distinct (5,718 classes at 3 x 2, 480 at
# 4 x 1), but state caching merges those that leave the same count, crowd and positions.
# (condition-while, a Condition over a plain Lock, is cached.)
BUDGET = 300
INCOMPLETE: Dict[str, List[Tuple[int, int]]] = {}  # none now


def safe_cases() -> List[Tuple[str, str]]:
    return [(s.id, m) for m in METHODS for s in BUILTIN
            if controllable(s) and s.expect.under(m) is Expect.SAFE]


# One start method per interpreter, rotating over the matrix (tests/conftest.py): the search is the same code under each.
@pytest.mark.start_method_rotates
@pytest.mark.parametrize("scenario_id, method", safe_cases())
def test_safe_scenarios_have_no_failing_schedule_up_to_3x2(scenario_id, method, nothing_left_behind):
    scenario = catalogue.resolve_one(scenario_id)
    incomplete = []
    for processes, ops in SIZES:
        with Controller(scenario, processes, ops, method) as controller:
            result = explore(scenario, budget=BUDGET, controller=controller)
            assert result.failing == 0 and result.errors == 0, (processes, ops, result.first_failure)
            if not result.complete:
                incomplete.append((processes, ops))
                sample = explore(scenario, strategy="random", budget=50, seed=processes * 10 + ops,
                                 controller=controller)
                assert sample.failing == 0 and sample.errors == 0
    assert incomplete == INCOMPLETE.get(scenario_id, [])


def test_every_worker_scenario_is_either_controlled_or_refused():
    for scenario in BUILTIN:
        if controllable(scenario):
            continue
        with pytest.raises(Uncontrollable):
            Controller(scenario, 2, 1, METHODS[0])


# -- racy scenarios fail at 2 x 1 --------------------------------------------------------------


def racy_counter_cases() -> List[Tuple[str, str]]:
    return [(s.id, m) for m in METHODS for s in BUILTIN
            if controllable(s) and s.is_counter and s.expect.under(m) is Expect.RACY]


# One start method per interpreter, rotating over the matrix (tests/conftest.py): the search is the same code under each.
@pytest.mark.start_method_rotates
@pytest.mark.parametrize("scenario_id, method", racy_counter_cases())
def test_racy_counters_fail_at_2x1_and_shrink_to_it(scenario_id, method, nothing_left_behind):
    scenario = catalogue.resolve_one(scenario_id)
    controllers: Dict[Tuple[int, int], Controller] = {}

    def controller(size: Tuple[int, int]) -> Controller:
        if size not in controllers:
            controllers[size] = Controller(scenario, size[0], size[1], method)
        return controllers[size]

    def breaks(example) -> bool:
        size, steps = example
        return not controller(size).run(follow(steps)).correct

    try:
        result = explore(scenario, controller=controller((2, 1)))
        assert result.complete and result.failing > 0 and result.errors == 0
        assert result.first_failure is not None and "lost" in result.first_failure.outcome
        # A property "the count is exact" over sizes up to 3 x 2 and any schedule: hypothesis
        # finds a counterexample and shrinks it to 2 processes x 1 op.
        size, steps = find(
            _sized_choices(),
            breaks,
            settings=settings(database=None, derandomize=True, max_examples=500, deadline=None,
                              suppress_health_check=list(HealthCheck)),
        )
        execution = controller(size).run(follow(steps))
    finally:
        for running in controllers.values():
            running.close()
    assert size == (2, 1)
    assert not execution.correct and execution.lost == 1


# Lessons whose race needs three processes: one more than the two that race, to change the
# state between a check and the act on it (a consumer that takes the item a woken one was
# told about; a third process that reads the same free place).
THREE_PROCESS_RACES = {"condition-if": "took from an empty buffer", "semaphore-by-hand": "3 processes were inside"}


# One start method per interpreter, rotating over the matrix (tests/conftest.py): the search is the same code under each.
@pytest.mark.start_method_rotates
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario_id", sorted(THREE_PROCESS_RACES))
def test_three_process_races_fail_first_at_3x1_and_each_failure_replays(scenario_id, method, nothing_left_behind):
    scenario = catalogue.resolve_one(scenario_id)
    for processes, ops in [(2, 1), (2, 2)]:  # every size below 3 x 1 that finishes quickly
        smaller = explore(scenario, processes=processes, ops=ops, start_method=method)
        assert smaller.complete and smaller.failing == 0 and smaller.errors == 0, (processes, ops)
    with Controller(scenario, 3, 1, method) as controller:
        result = explore(scenario, controller=controller)
        assert result.complete and result.failing > 0 and result.deadlocks == 0 and result.errors == 0
        assert result.failures and all(THREE_PROCESS_RACES[scenario_id] in f.outcome for f in result.failures)
        for failure in result.failures:
            sized = parse_schedule(failure.sized)
            assert (sized.processes, sized.ops) == (3, 1)
            assert {replay(controller, sized.steps, failure.sized, watch=False).outcome for _ in range(5)} == {
                failure.outcome}


def _sized_choices():
    from hypothesis import strategies as st

    return st.tuples(sizes(3, 2), choices())


def test_check_then_act_overdraws_under_random_and_pct():
    scenario = catalogue.resolve_one("check-then-act")
    for strategy in ("random", "pct"):
        result = explore(scenario, strategy=strategy, budget=200, seed=1, start_method=METHODS[0])
        assert result.failing > 0 and "overdrawn" in result.first_failure.outcome


@pytest.mark.parametrize("method", METHODS)
def test_random_and_pct_are_reproducible_from_their_seed(method):
    scenario = catalogue.resolve_one("raw-value")
    for strategy in ("random", "pct"):
        first = explore(scenario, processes=3, ops=1, strategy=strategy, budget=60, seed=7, start_method=method)
        second = explore(scenario, processes=3, ops=1, strategy=strategy, budget=60, seed=7, start_method=method)
        assert first.outcomes == second.outcomes and first.failing > 0
        assert first.first_failure.schedule == second.first_failure.schedule


# -- deadlock ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("reduction", [False, True])
def test_deadlock_deadlocks_at_2x1(method, reduction, nothing_left_behind):
    result = explore(catalogue.resolve_one("deadlock"), processes=2, ops=1, reduction=reduction,
                     start_method=method)
    assert result.complete and result.deadlocks > 0 and result.errors == 0 and result.ok
    failure = result.first_failure
    assert failure.outcome == "deadlock" and len(failure.schedule) == 2  # each takes its first lock
    assert "process 0 holds alice.lock and waits for bob.lock (held by process 1)" in failure.deadlock
    assert "process 1 holds bob.lock and waits for alice.lock (held by process 0)" in failure.deadlock
    # Every schedule that did not deadlock moved the money correctly.
    assert set(result.outcomes) == {"deadlock", "invariant holds"}


# -- the start-method trap ---------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_module_lock_is_clean_under_fork_only(method):
    result = explore(catalogue.resolve_one("module-lock"), processes=2, ops=1, start_method=method)
    assert result.complete and result.errors == 0
    if method == "fork":
        assert result.failing == 0  # every child holds the parent's lock
    else:
        assert result.failing > 0  # each child locks a lock of its own
        assert "own copy" in result.first_failure.timeline()


_PRELOADED_FORKSERVER = """
import json
from multiprocessing import forkserver
from racecourse import catalogue
from racecourse.control import explore
result = explore(catalogue.resolve_one("module-lock"), processes=2, ops=1, start_method="forkserver")
print(json.dumps({"preload": forkserver._forkserver._preload_modules, "failing": result.failing,
                  "complete": result.complete, "errors": result.errors}))
"""


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(), reason="no forkserver here")
def test_forkserver_preloads_racecourse_but_module_lock_still_races():
    # A fresh interpreter: its forkserver starts here, with racecourse's modules preloaded.
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PRELOADED_FORKSERVER], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "racecourse.control.engine" in report["preload"] and "__main__" in report["preload"]
    assert not any("scenarios" in name for name in report["preload"])  # a scenario's module is imported per child
    assert report["complete"] and report["errors"] == 0
    assert report["failing"] > 0  # each child still locks a module-level lock of its own


# -- replay ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario_id, schedule, outcome", [
    ("raw-value", "0101", "count=1 (expected 2, 1 lost)"),
    ("raw-value", "0011", "count=2"),
    ("manager-dict", "1001", "count=1 (expected 2, 1 lost)"),
    ("shared-memory", "0110", "count=1 (expected 2, 1 lost)"),
    ("deadlock", "10", "deadlock"),
])
def test_a_replayed_schedule_gives_the_same_outcome_50_times_out_of_50(scenario_id, schedule, outcome, method):
    steps = parse_schedule(schedule).steps
    with Controller(catalogue.resolve_one(scenario_id), 2, 1, method) as controller:
        outcomes = {replay(controller, steps, schedule, watch=False).outcome for _ in range(50)}
    assert outcomes == {outcome}


def test_timeline_marks_the_lost_update_and_the_state_after_each_step():
    with Controller(catalogue.resolve_one("raw-value"), 2, 1, METHODS[0]) as controller:
        execution = replay(controller, [0, 1, 1, 0], "0110")
    assert [step.state for step in execution.steps] == ["count=0", "count=0", "count=1", "count=1"]
    assert [bool(step.lost) for step in execution.steps] == [False, False, False, True]
    assert "process 1 wrote at step 3" in execution.steps[3].lost


# -- every failing outcome, the budget, progress ----------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_each_failing_outcome_keeps_its_simplest_schedule_and_each_replays_to_it(method, nothing_left_behind):
    from racecourse.control.exploration import context_switches
    from racecourse.control.strategies import Exhaustive

    scenario = catalogue.resolve_one("raw-value")
    with Controller(scenario, 2, 2, method) as controller:
        result = explore(scenario, controller=controller)
        assert result.complete and result.failing
        # The fewest context switches per failing outcome, from the same search run again.
        fewest: Dict[str, int] = {}
        for execution in Exhaustive(reduction=True).executions(controller, None):
            if not execution.correct:
                switches = context_switches(execution.schedule)
                fewest[execution.outcome] = min(switches, fewest.get(execution.outcome, switches))
        assert len(fewest) >= 2  # count=2 and count=3: more than one way to go wrong
        assert {failure.outcome: context_switches(parse_schedule(failure.schedule).steps)
                for failure in result.failures} == fewest
        assert len(result.failures) == len(fewest)  # one each
        switches = [context_switches(parse_schedule(failure.schedule).steps) for failure in result.failures]
        assert switches == sorted(switches) and result.first_failure is not None
        assert result.first_failure.sized == result.failures[0].sized
        for failure in result.failures:  # one by one, from the sized schedule alone
            sized = parse_schedule(failure.sized)
            assert (sized.processes, sized.ops) == (2, 2)
            assert replay(controller, sized.steps, failure.sized).outcome == failure.outcome
    data = result.to_json()
    assert [entry["outcome"] for entry in data["failures"]] == [failure.outcome for failure in result.failures]
    assert data["first_failure"] == data["failures"][0]
    report = result.report()
    assert f"failing outcomes ({len(fewest)})" in report
    assert all(failure.replay_command in report for failure in result.failures)


@pytest.mark.parametrize("method", METHODS)
def test_a_deadlock_is_a_failure_of_its_own_with_who_holds_and_waits(method, nothing_left_behind):
    result = explore(catalogue.resolve_one("deadlock"), start_method=method)
    deadlocks = [failure for failure in result.failures if failure.deadlock]
    assert len(deadlocks) == 1 and deadlocks[0].to_json()["deadlock"] == deadlocks[0].deadlock
    assert "holds alice.lock and waits for bob.lock (held by process 1)" in deadlocks[0].deadlock


def test_the_budget_counts_complete_schedules_and_pruned_ones_apart(nothing_left_behind):
    # deadlock at 2 x 2 with sleep sets: 11 complete schedules and 8 pruned on the way.
    scenario = catalogue.resolve_one("deadlock")
    with Controller(scenario, 2, 2, METHODS[0]) as controller:
        full = explore(scenario, controller=controller)
        assert (full.schedules, full.pruned, full.complete) == (11, 8, True)
        # A budget of 12 covers the 11 complete schedules: pruned runs do not use it up.
        assert explore(scenario, controller=controller, budget=12).to_json()["schedules"] == 11
        assert explore(scenario, controller=controller, budget=12).complete
        cut = explore(scenario, controller=controller, budget=10)
        assert (cut.schedules, cut.complete) == (10, False)


def test_progress_is_told_every_schedule_with_an_estimate_that_ends_at_zero(nothing_left_behind):
    told: List[Tuple[int, int, object]] = []

    def progress(result, remaining):
        told.append((result.schedules, result.failing, remaining()))

    scenario = catalogue.resolve_one("raw-value")
    result = explore(scenario, reduction=False, start_method=METHODS[0], progress=progress)
    assert [done for done, _, _ in told] == list(range(1, 7))  # (2*2)!/(2!)^2 = 6 interleavings
    assert told[-1] == (6, result.failing, 0)
    # After the first schedule, the search has covered one branch at each of the first two
    # choice points (2 runnable processes each): 1/4 of the tree, so about 3 more.
    assert told[0][2] == 3
    assert [failing for _, failing, _ in told] == sorted(failing for _, failing, _ in told)
    told.clear()
    explore(scenario, strategy="random", budget=3, start_method=METHODS[0], progress=progress)
    assert [(done, left) for done, _, left in told] == [(1, None), (2, None), (3, None)]
