"""Loops that poll, under control (loop_uses.py). A timed wait is a try, so a polling
loop can go round as often as a schedule lets it; exploration ends a schedule that comes
back to a state on its own path. If every process that could go went round, that is a
livelock, reported with its story and replayed; otherwise the ones that went round wait
while the others go. Deterministic: the parent decides every interleaving, and every
count below is of an exploration that ran to its end."""

from __future__ import annotations

import json
import pathlib

import pytest

from racecourse import catalogue
from racecourse.control import Abandon, ControlError, Controller, Status, explore, parse_schedule, replay
from support import nothing_left_behind, start_methods  # noqa: F401  (nothing_left_behind is a fixture)

pytestmark = pytest.mark.usefixtures("nothing_left_behind")
METHODS = start_methods()
LOOPS = str(pathlib.Path(__file__).with_name("loop_uses.py"))


def use(name):
    return catalogue.resolve_one(f"{LOOPS}:{name}")


@pytest.mark.parametrize("reduction", [True, False])
@pytest.mark.parametrize("method", METHODS)
def test_a_poller_whose_event_is_set_is_proven_complete(method, reduction):
    for processes in (2, 3):  # at 3, two pollers: each goes round while the other waits its turn
        result = explore(use("POLLER"), processes=processes, reduction=reduction, start_method=method)
        assert result.complete and result.failing == 0 and result.livelocks == 0, result.outcomes
        assert set(result.outcomes) == {"invariant holds"}


@pytest.mark.parametrize("method", METHODS)
def test_a_poller_nobody_answers_is_a_livelock_told_and_replayed(method):
    scenario = use("LONELY")
    result = explore(scenario, processes=2, start_method=method)
    assert result.complete and result.schedules == result.livelocks == result.failing >= 1
    assert dict(result.outcomes) == {"livelock": result.schedules}
    [failure] = result.failures  # one loop, however many schedules end in it
    assert failure.livelock.startswith("process 1 read ready.wait(0.01), round and round: after step ")
    assert failure.livelock.endswith("can repeat for ever")
    sized = parse_schedule(failure.sized)
    with Controller(scenario, sized.processes, sized.ops, method) as controller:
        again = replay(controller, sized.steps, failure.sized)
    assert again.status is Status.LIVELOCK and again.livelock == failure.livelock
    data = json.loads(json.dumps(result.to_json()))
    assert data["livelocks"] == result.livelocks and data["failures"][0]["livelock"] == failure.livelock


@pytest.mark.parametrize("method", METHODS)
def test_two_pollers_each_waiting_for_the_other_are_a_livelock_of_both(method):
    # Each poll is independent of the other's, so sleep sets alone would let each go
    # round only while the other sleeps, and never see both go round (the cycle proviso).
    for reduction in (True, False):
        result = explore(use("CROSSED"), processes=2, reduction=reduction, start_method=method)
        assert result.complete and result.schedules == result.livelocks >= 1
        assert {failure.livelock.split(":")[0] for failure in result.failures} == {
            "process 0 read ping.wait(0.01); process 1 read pong.wait(0.01), round and round"}


@pytest.mark.parametrize("method", METHODS)
def test_a_poller_that_gives_up_reaches_its_give_up_and_is_no_livelock(method):
    result = explore(use("GIVES_UP"), processes=2, start_method=method)
    assert result.complete and result.livelocks == 0
    assert set(result.outcomes) == {"the poller gave up", "the poller never wrote"}


@pytest.mark.parametrize("method", METHODS)
def test_a_spin_on_a_shared_flag_is_proven(method):
    result = explore(use("SPIN"), processes=2, start_method=method)
    assert result.complete and result.failing == 0 and set(result.outcomes) == {"invariant holds"}


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_random_and_pct_schedules_end_on_a_polling_loop(strategy):
    method = METHODS[0]
    lonely = explore(use("LONELY"), processes=2, strategy=strategy, budget=20, start_method=method)
    assert lonely.schedules == lonely.livelocks == 20
    answered = explore(use("POLLER"), processes=3, strategy=strategy, budget=20, start_method=method)
    assert answered.schedules == 20 and answered.failing == 0


@pytest.mark.parametrize("strategy", ["exhaustive", "random", "pct"])
def test_a_poll_whose_state_cannot_be_told_stops_at_the_step_limit_saying_why(strategy):
    method = METHODS[0]
    with Controller(use("HIDDEN"), 2, 1, method) as controller:
        controller.max_steps = 300  # MAX_STEPS is 100,000: the same stop, sooner
        with pytest.raises(ControlError) as stopped:
            explore(use("HIDDEN"), strategy=strategy, budget=5, controller=controller)
        assert str(stopped.value).startswith(
            "hidden-poller: a schedule ran 300 steps without ending (process 1 read ready.wait(0.01), again and again)")

        def three_steps(run):
            if len(run.schedule) == 3:
                raise Abandon()
            return run.enabled[-1]

        again = controller.run(three_steps)  # the workers were unwound: the controller runs on
        assert again.status is Status.ABANDONED and again.schedule == [1, 1, 1]
