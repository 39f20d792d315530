"""racecourse.explore() on a user's own functions, checkpoint(), schedules as strings, and the
failure paths of the controlled runner (a worker that raises, dies or hangs): every path
leaves nothing behind."""

from __future__ import annotations

import os
import signal
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import racecourse
from racecourse.api import scenario_from
from racecourse.control import ControlError, Controller, ScheduleError, format_schedule, parse_schedule
from support import start_methods

METHODS = start_methods()


# Every test here leaves nothing behind.
pytestmark = pytest.mark.usefixtures("nothing_left_behind")


# A user's code: module-level functions, so that spawn and forkserver children import them.

def build_counter(share):
    return {"counter": share.Value("i", 0, lock=False), "lock": share.Lock()}


def unlocked(counter, ops):
    for _ in range(ops):
        counter.value += 1


def locked(counter, lock, ops):
    for _ in range(ops):
        with lock:
            counter.value += 1


def read_counter(counter):
    return counter.value


def build_flag(share):
    return {"flag": share.Value("i", 0, lock=False)}


def check_and_set(flag, index):
    # Without checkpoints nothing here is visible but the two accesses of flag.
    if flag.value == 0:
        racecourse.checkpoint("decided")
        flag.value = index + 1


def check_and_set_plainly(flag, index):
    if flag.value == 0:
        flag.value = index + 1


def at_most_one_winner(flag):
    return None


def raises(counter, index):
    counter.value += 1
    if index == 1:
        raise ValueError("worker one gives up")


def dies(counter, index):
    counter.value += 1
    if index == 0:
        os.kill(os.getpid(), signal.SIGKILL)


def hangs(counter, index):
    counter.value += 1
    time.sleep(30)  # invisible to the controller: it gives up after its timeout


@pytest.mark.parametrize("method", METHODS)
def test_explore_api_finds_the_lost_update_and_proves_the_fix(method):
    racy = racecourse.explore(unlocked, build=build_counter, observe=read_counter, start_method=method)
    assert not racy.ok and racy.failing == 2 and racy.complete
    failure = racy.first_failure
    # Of the two failing schedules (0101, 0110), the one with fewer context switches.
    assert failure.schedule == "0110" and failure.sized == "2x1:0110"
    assert "LOST" in failure.timeline() and failure.svg().startswith("<svg")
    assert racy.to_json()["first_failure"]["schedule"] == "0110"
    safe = racecourse.explore(locked, build=build_counter, observe=read_counter, processes=3, ops=2,
                              start_method=method)
    # 3 x 2 locked: 6!/(2!)**3 = 90 orders of the sections, one class each; with state
    # caching a schedule runs to its end only when it enters the final state (count=6), from
    # one of its 3 predecessors (one process has its last section left), and those last
    # sections all touch the count, so no sleep set prunes an entry: 3.
    assert safe.ok and safe.complete and safe.failing == 0 and safe.schedules == 3


def test_explore_api_strategies_and_expected():
    result = racecourse.explore(unlocked, build=build_counter, observe=read_counter, expected=3, processes=3,
                                strategy="pct", budget=30, seed=2, start_method=METHODS[0])
    assert result.strategy == "pct" and result.schedules == 30 and result.failing > 0
    with pytest.raises(ValueError):
        racecourse.explore(unlocked, build=build_counter, observe=read_counter, strategy="bfs")


def test_checkpoint_is_a_scheduling_point_under_control_and_nothing_outside():
    assert racecourse.checkpoint("outside") is None
    result = racecourse.explore(check_and_set, build=build_flag, check=at_most_one_winner, reduction=False,
                                start_method=METHODS[0])
    # Per process: read flag, checkpoint, write flag (when it read 0), or the read alone
    # when the other process wrote first. Plain twin, starting with process 0's read: 0 writes
    # and 1 reads the 1 (one schedule), or 1 reads 0 and the two writes go in either order
    # (two): 3, and 3 more starting with process 1: 6. With the checkpoint, after r0: c0 w0 r1
    # (1), c0 then r1 and 3 orders of w0 | c1 w1 (3), or r1 and C(4,2) = 6 orders: 10; x2 = 20.
    plain = racecourse.explore(check_and_set_plainly, build=build_flag, check=at_most_one_winner, reduction=False,
                               start_method=METHODS[0])
    assert (plain.schedules, result.schedules) == (6, 20) and result.complete
    with Controller(scenario_from(check_and_set, build=build_flag, check=at_most_one_winner), 2, 1,
                    METHODS[0]) as controller:
        execution = controller.run(lambda run: run.enabled[0], watch=True)
    assert [s.describe() for s in execution.steps][:3] == ["read flag -> 0", "checkpoint decided", "write flag <- 1"]


@pytest.mark.parametrize("method", METHODS)
def test_a_worker_that_raises_is_reported_and_the_workers_carry_on(method):
    result = racecourse.explore(raises, build=build_counter, observe=read_counter, start_method=method)
    assert result.errors == result.schedules > 0 and result.exit_status == 3
    assert "error in process 1: ValueError: worker one gives up" in result.outcomes


@pytest.mark.parametrize("method", METHODS)
def test_a_worker_that_dies_stops_the_exploration_with_a_clear_error(method):
    with pytest.raises(ControlError, match="worker 0 died"):
        racecourse.explore(dies, build=build_counter, observe=read_counter, start_method=method)


def test_a_worker_that_hangs_outside_visible_operations_hits_the_timeout():
    with pytest.raises(ControlError, match="did not reach its next visible operation within 1 s"):
        racecourse.explore(hangs, build=build_counter, observe=read_counter, timeout=1.0, start_method=METHODS[0])


@given(st.lists(st.integers(0, 12), max_size=30), st.booleans())
def test_schedules_round_trip(steps, sized):
    text = format_schedule(steps, 13, 2) if sized else format_schedule(steps)
    parsed = parse_schedule(text)
    assert parsed.steps == steps
    assert (parsed.processes, parsed.ops) == ((13, 2) if sized else (None, None))
    assert format_schedule(parsed.steps, parsed.processes, parsed.ops) == text
    if all(step < 10 for step in steps):
        assert "." not in text  # short digits whenever they are unambiguous


@pytest.mark.parametrize("text", ["01a", "0..1", "0 1", "-1", "2x1:0x", "٣"])
def test_bad_schedule_strings_are_refused(text):
    with pytest.raises(ScheduleError):
        parse_schedule(text)
