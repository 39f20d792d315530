"""racecourse checks itself (racecourse.crosscheck, ``racecourse run ID --cross-check``):
every outcome real runs observe must be one that exhaustive exploration at the same size
reaches.

The catalogue test cannot fail by chance: if the controlled scheduler sees every shared
operation, no real run can produce an outcome outside the explored set, however many
trials run or however they interleave. A failure means racecourse missed something.
"""

from __future__ import annotations

import json

import pytest

from racecourse import catalogue, fast_trials
from racecourse.control.engine import refuse_uncontrollable
from racecourse.control.instrument import Uncontrollable
from racecourse.crosscheck import HOLDS, CrossCheck, cross_check, outcome_key
from support import nothing_left_behind, run_cli, start_methods  # noqa: F401 (a fixture)

METHODS = start_methods()
# Sizes at which exhaustive exploration of these scenarios finishes quickly.
SLOW_TO_EXPLORE = {"check-then-act", "deadlock"}


def _checkable():
    found = []
    for scenario in catalogue.builtin():
        if scenario.id in SLOW_TO_EXPLORE or not scenario.worker:
            continue
        try:
            refuse_uncontrollable(scenario)
        except Uncontrollable:
            continue
        if scenario.id != "global-counter":  # shares nothing: there is nothing to control
            found.append(scenario)
    return found


CHECKABLE = _checkable()
# A Queue's contents cannot be put back between fast trials: stress trials check these.
QUEUED = {"queue-consumers", "queue-consumers-sentinels"}
FAST = [s for s in CHECKABLE
        if fast_trials.unsupported_reason(s) is None and "manager" not in s.id and s.id not in QUEUED]


# One start method per interpreter, rotating over the matrix (tests/conftest.py): the search is the same code under each.
@pytest.mark.start_method_rotates
@pytest.mark.usefixtures("nothing_left_behind")
@pytest.mark.parametrize("scenario", FAST, ids=lambda s: s.id)
def test_every_outcome_fast_trials_observe_is_reachable_under_control(scenario):
    result = cross_check(scenario, processes=2, ops=1, start_method=METHODS[0], trials=1_000)
    assert result.mode == "fast" and result.complete, result.verdict()
    assert result.unreachable == {} and result.ok, result.verdict()
    assert sum(result.observed.values()) == 1_000


@pytest.mark.usefixtures("nothing_left_behind")
def test_stress_trials_stand_in_where_fast_trials_cannot_run():
    result = cross_check(catalogue.resolve_one("manager-dict"), processes=2, ops=1, start_method=METHODS[0], trials=4)
    assert result.mode == "stress" and result.ok, result.verdict()
    assert set(result.reachable) == {"observed 1", "observed 2"} and sum(result.observed.values()) == 4


@pytest.mark.usefixtures("nothing_left_behind")
@pytest.mark.parametrize("scenario_id", sorted(QUEUED))
def test_every_outcome_stress_trials_observe_of_a_queue_lesson_is_reachable(scenario_id):
    result = cross_check(catalogue.resolve_one(scenario_id), processes=2, ops=1, start_method=METHODS[0], trials=4)
    assert result.mode == "stress" and result.complete, result.verdict()
    assert result.unreachable == {} and result.ok, result.verdict()
    assert sum(result.observed.values()) == 4


def test_an_outcome_no_schedule_reaches_is_reported_as_a_miss():
    scenario = catalogue.resolve_one("raw-value")
    missed = CrossCheck(scenario, "spawn", 2, 1, "fast", 100, observed={"observed 2": 90, "observed 0": 10},
                        reachable={"observed 1": 2, "observed 2": 2}, schedules=4, complete=True)
    assert missed.unreachable == {"observed 0": 10} and not missed.ok and missed.exit_status == 1
    assert missed.verdict().startswith("real runs observed what no schedule reaches: observed 0 (10 of 100 trials); "
                                       "exploration reached only observed 1, observed 2")
    unfinished = CrossCheck(scenario, "spawn", 2, 1, "fast", 100, observed={"observed 2": 100}, schedules=20_000)
    assert unfinished.exit_status == 3 and "without finishing" in unfinished.verdict()


def test_outcomes_are_named_alike_on_both_sides():
    assert outcome_key(3, None) == "observed 3"
    assert outcome_key(None, None) == HOLDS
    assert outcome_key(None, "overdrawn") == "overdrawn"


def test_run_cross_check_on_the_command_line(capsys):
    status, out, err = run_cli(capsys, "run", "raw-value", "--cross-check", "-m", METHODS[0], "-t", "500", "--json")
    assert status == 0, err
    result = json.loads(out)
    assert (result["scenario"], result["mode"], result["trials"], result["ok"]) == ("raw-value", "fast", 500, True)
    assert set(result["reachable"]) == {"observed 1", "observed 2"} and result["unreachable"] == {}
    status, out, _ = run_cli(capsys, "run", "lock-value", "--cross-check", "-m", METHODS[0], "-t", "200")
    assert status == 0 and "agrees" in out


@pytest.mark.parametrize("argv, message", [
    (["run", "pool-map", "--cross-check"], "pool-map is a program scenario"),
    (["run", "raw-value", "--cross-check", "--fast"], "--cross-check chooses its own trials"),
])
def test_bad_cross_check_requests_are_one_line_and_exit_2(capsys, argv, message):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
