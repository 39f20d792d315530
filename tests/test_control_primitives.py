"""Blocking primitives under control (so far: Semaphore and BoundedSemaphore): a racy use
found at the smallest size and replayed, a correct use proven complete, a deadlock told
with holder and waiter, an over-release's ValueError; the same objects run uncontrolled
under the stress runner. Deterministic: the parent decides every interleaving."""

from __future__ import annotations

import pathlib

import pytest

import racecourse
from racecourse import catalogue
from racecourse.control import Controller, explore, parse_schedule, replay
from racecourse.control.instrument import ACQUIRE
from support import start_methods

METHODS = start_methods()
USES = str(pathlib.Path(__file__).with_name("semaphore_uses.py"))


def use(name):
    return catalogue.resolve_one(f"{USES}:{name}")


@pytest.mark.parametrize("method", METHODS)
def test_a_hand_built_two_slot_section_lets_three_in_at_3x1_and_the_replay_shows_it(method):
    scenario = use("HAND_BUILT")
    assert explore(scenario, processes=2, start_method=method).failing == 0  # two always fit
    result = explore(scenario, processes=3, start_method=method)
    assert result.complete and result.first_failure is not None
    failure = result.first_failure
    assert failure.outcome == "3 processes inside at once"
    sized = parse_schedule(failure.sized)
    with Controller(scenario, sized.processes, sized.ops, method) as controller:
        assert replay(controller, sized.steps, failure.sized).outcome == failure.outcome


@pytest.mark.parametrize("method", METHODS)
def test_semaphore_2_is_proven_to_let_two_in_and_makes_the_third_wait(method):
    scenario = use("SEMAPHORE")
    result = explore(scenario, processes=3, start_method=method)
    assert result.complete and result.failing == 0 and result.ok
    waiting = []

    def choose(run):  # processes 0 and 1 take a slot (each one's first step); then the third waits
        if len(run.schedule) < 2:
            return len(run.schedule)
        op = run.pending.get(2)
        if op is not None and op.kind == ACQUIRE and op.label == "slots" and 2 not in run.enabled:
            waiting.append(run.sync.waiting_text(2, op))
        return run.enabled[0]

    with Controller(scenario, 3, 1, method) as controller:
        execution = controller.run(choose)
    assert execution.correct
    assert waiting and waiting[0] == "count 0, held by process 0, process 1"


@pytest.mark.parametrize("method", METHODS)
def test_a_semaphore_deadlock_names_holder_and_waiter(method):
    result = explore(use("TAKE_TWO"), processes=2, start_method=method)
    assert result.complete and result.deadlocks == result.schedules
    stories = {failure.deadlock for failure in result.failures}
    assert "process 1 waits for slots (held by process 0)" in stories  # process 0 took both and finished
    assert ("process 0 holds slots and waits for slots (held by itself, process 1); "
            "process 1 holds slots and waits for slots (held by process 0, itself)") in stories


@pytest.mark.parametrize("method", METHODS)
def test_releasing_a_bounded_semaphore_too_often_raises_value_error_in_the_worker(method):
    result = explore(use("OVER_RELEASE"), processes=1, start_method=method)
    assert list(result.outcomes) == ["error in process 0: ValueError: semaphore or lock released too many times"]
    assert result.ok  # the scenario documents the ValueError


def test_the_same_semaphore_runs_uncontrolled_under_the_stress_runner():
    result = racecourse.stress(use("SEMAPHORE"), processes=3, ops=50, trials=2, start_method=METHODS[0])
    assert result.ok, result.report()
