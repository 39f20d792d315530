"""``racecourse diff``: one schedule under every start method, where the outcomes part,
and why (racecourse.differential).

Each run names its own start methods, fork among them, so it runs as a command in a
process of its own (this test process may be an xdist worker, which must not fork), and
once per interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from racecourse.sharing import available_start_methods

pytestmark = pytest.mark.start_method_independent

METHODS = ",".join(available_start_methods())


def diff(*argv):
    done = subprocess.run([sys.executable, "-m", "racecourse", "diff", *argv], capture_output=True, text=True,
                          timeout=300)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.skipif("fork" not in available_start_methods(), reason="the lesson is fork against the others")
def test_module_lock_differs_at_the_step_where_the_lock_is_not_shared():
    status, out, err = diff("module-lock", "--json", "-m", METHODS)
    assert status == 1, err  # the start methods disagree
    result = json.loads(out)
    assert (result["scenario"], result["mode"], result["same"], result["exit_status"]) == ("module-lock", "control",
                                                                                         False, 1)
    # The minimal failing schedule, found by exploring: both acquire before either writes.
    assert result["schedule"] == "2x1:00110011"
    by_method = {entry["start_method"]: entry for entry in result["methods"]}
    assert by_method["fork"]["outcome"] is None and not by_method["fork"]["followed"]
    assert ("step 3 names process 1, but its next operation, acquire LOCK, cannot go on now (held by process 0)"
            in by_method["fork"]["note"])
    for method in set(by_method) - {"fork"}:
        assert by_method[method]["outcome"] == "count=1 (expected 2, 1 lost)" and by_method[method]["ok"] is False
    assert "step 3 ran: process 1: acquire LOCK (own copy)" in result["first_difference"]
    (why,) = result["why"]
    assert why.startswith("LOCK (module global, Lock): one object shared by every process under fork")


def test_a_lock_handed_to_the_workers_behaves_the_same_everywhere():
    status, out, err = diff("lock-value", "-m", METHODS)
    assert status == 0, err
    assert "The start methods agree." in out and "Why" not in out
    assert out.count("no failing schedule (every schedule at 2x1 came out right)") == len(METHODS.split(","))


def test_a_given_schedule_is_run_as_given():
    status, out, err = diff("raw-value", "--schedule", "2x1:0110", "--json", "-m", METHODS)
    assert status == 0, err
    result = json.loads(out)
    assert result["schedule"] == "2x1:0110" and result["same"]
    assert {entry["outcome"] for entry in result["methods"]} == {"count=1 (expected 2, 1 lost)"}


def test_a_program_scenario_is_compared_by_stress_runs():
    status, out, err = diff("pool-map", "--json", "-m", METHODS)
    assert status == 0, err
    result = json.loads(out)
    assert (result["mode"], result["schedule"], result["why"]) == ("stress", None, [])
    assert {entry["outcome"] for entry in result["methods"]} == {"every trial exact"}


@pytest.mark.parametrize("argv, message", [
    (["raw-value", "-m", "spawn"], "diff compares start methods: give at least two"),
    (["raw-value", "--schedule", "0110"], "give the schedule with its sizes, as explore prints it (2x1:0110)"),
    (["raw-value", "--schedule", "2x1:0110", "-p", "3"], "--processes 3 disagrees with the schedule's size"),
    (["raw-value", "-p", "5"], "at most 4 processes x 3 ops"),
    (["pool-map", "--schedule", "2x1:0110"], "cannot run under control"),
    (["raw-valeu"], "did you mean 'raw-value'"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message):
    status, out, err = diff(*argv)
    assert status == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1, err
