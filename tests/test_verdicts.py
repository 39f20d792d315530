"""Verdicts speak of what a scenario declared: a count of updates (lost or extra), a value
that is not a count (observed against expected), an invariant (what broke); and when one
scenario is right under one start method and wrong under another, the start method is named
as the cause."""

from __future__ import annotations

import json
import textwrap

import pytest

from racecourse import Expect, Scenario
from racecourse.report import start_method_causes
from racecourse.results import RunResult, TrialResult
from support import run_cli, scenario_file, start_methods

METHOD = start_methods()[0]

# A setting written once by worker 0: a value, not a count. The declared expectation (9)
# is wrong on purpose, so every trial and every schedule comes out wrong.
SETTING = '''
"""wrong-setting: worker 0 stores a setting that is not the one expected."""
from racecourse import Defaults, Expect, Scenario


def build(share):
    return {"setting": share.Value("i", 0, lock=False)}


def worker(setting, index):
    if index == 0:
        setting.value = 7


def observe(setting):
    return setting.value


def nine(processes, ops):
    return 9


SETTING = Scenario(id="wrong-setting", title="t", expect=Expect.SAFE, build=build, worker=worker,
                   observe=observe, expected=nine, observes="value", defaults=Defaults(ops=1, trials=2))
COUNTED = Scenario(id="wrong-count", title="t", expect=Expect.SAFE, build=build, worker=worker,
                   observe=observe, expected=nine, defaults=Defaults(ops=1, trials=2))
'''

# Both processes switch a flag on after seeing it off: the second write stores the value
# the first one stored, which loses nothing.
FLAG = '''
"""flag: every process turns the flag on if it sees it off."""
from racecourse import Expect, Scenario


def build(share):
    return {"flag": share.Value("i", 0, lock=False)}


def worker(flag):
    if flag.value == 0:
        flag.value = 1


def observe(flag):
    return flag.value


def one(processes, ops):
    return 1


FLAG = Scenario(id="flag", title="t", expect=Expect.SAFE, build=build, worker=worker, observe=observe,
                expected=one, observes="value")
'''


@pytest.fixture
def setting_file(tmp_path):
    return scenario_file(tmp_path, "wrong_setting.py", SETTING)


def test_a_wrong_value_is_observed_against_expected_not_counted_as_lost_updates(capsys, setting_file):
    status, out, err = run_cli(capsys, "run", f"{setting_file}:SETTING", "-m", METHOD, "--no-fast", "--json")
    data = json.loads(out)
    assert status == 1, err
    assert data["verdict"] == "observed 7, expected 9 (wrong in 2 of 2 trials)"
    assert [(t["observed"], t["expected"], t["lost"], t["ok"]) for t in data["trials"]] == [(7, 9, None, False)] * 2


def test_a_count_keeps_its_lost_updates_wording(capsys, setting_file):
    status, out, _ = run_cli(capsys, "run", f"{setting_file}:COUNTED", "-m", METHOD, "--no-fast")
    assert status == 1 and "lost 4 of 18 updates (22.2%)" in out


def test_fast_trials_of_a_value_say_which_value_and_not_lost(capsys, setting_file):
    status, out, _ = run_cli(capsys, "run", f"{setting_file}:SETTING", "-m", METHOD, "--fast", "-t", "20")
    assert status == 1
    assert "final value" in out and "wrong (expected 9)" in out and "lost" not in out
    assert "observed a value other than the expected 9 in 20 of 20 trials" in out


def test_explore_outcome_of_a_value_says_expected_not_lost(capsys, setting_file):
    status, out, _ = run_cli(capsys, "explore", f"{setting_file}:SETTING", "-m", METHOD, "--json")
    data = json.loads(out)
    assert status == 1 and list(data["outcomes"]) == ["value=7 (expected 9)"]


def test_a_write_of_the_value_already_there_is_not_a_lost_update(capsys, tmp_path):
    path = tmp_path / "flag.py"
    path.write_text(textwrap.dedent(FLAG))
    # Both read 0, then both write 1: the second write changes nothing.
    status, out, _ = run_cli(capsys, "replay", f"{path}:FLAG", "--schedule", "0101", "-m", METHOD, "--json")
    data = json.loads(out)
    assert status == 0 and data["ok"]
    assert [(s["op"], s["value"], s["lost"]) for s in data["steps"]] == [
        ("read", 0, None), ("read", 0, None), ("write", 1, None), ("write", 1, None)]
    status, out, _ = run_cli(capsys, "replay", f"{path}:FLAG", "--schedule", "0101", "-m", METHOD)
    assert "LOST" not in out


def test_a_count_written_twice_from_stale_reads_is_still_a_lost_update(capsys):
    # raw-value: both read 0 and both write 1; one increment is gone.
    status, out, _ = run_cli(capsys, "replay", "raw-value", "--schedule", "0101", "-m", METHOD, "--json")
    data = json.loads(out)
    assert status == 0 and data["steps"][3]["lost"] == "overwrites the update process 0 wrote at step 3"


def _result(scenario, method, observed):
    trials = [TrialResult(9, value, None, value == 9, 0.01) for value in observed]
    return RunResult(scenario, method, 2, 1, trials=trials, requested=len(trials))


def _declared(path, name):
    from racecourse import catalogue

    return catalogue.resolve_one(f"{path}:{name}")


def test_right_under_one_start_method_and_wrong_under_another_names_the_start_method(setting_file):
    scenario = _declared(setting_file, "SETTING")
    results = [_result(scenario, "fork", [9, 9]), _result(scenario, "spawn", [7, 9]),
               _result(scenario, "forkserver", [7, 7])]
    [line] = start_method_causes(results)
    assert line.startswith("wrong-setting: exact under fork, wrong under spawn and forkserver: "
                           "the start method is the cause (see `racecourse explain ")
    assert line.endswith(":SETTING`)")


def test_no_cause_line_when_the_start_methods_agree(setting_file):
    scenario = _declared(setting_file, "SETTING")
    assert start_method_causes([_result(scenario, "fork", [7]), _result(scenario, "spawn", [7])]) == []
    assert start_method_causes([_result(scenario, "fork", [9]), _result(scenario, "spawn", [9])]) == []


def test_an_invariant_right_under_fork_only_says_held_and_broken():
    def held(**_):
        return None

    scenario = Scenario(id="invariant", title="t", expect=Expect.SAFE, build=dict, worker=held, check=held)
    fine = RunResult(scenario, "fork", 2, 1, trials=[TrialResult(None, None, None, True, 0.0)])
    broken = RunResult(scenario, "spawn", 2, 1, trials=[TrialResult(None, None, None, False, 0.0, violation="x < 0")])
    assert start_method_causes([fine, broken]) == [
        "invariant: held under fork, broken under spawn: the start method is the cause"]


def test_observes_takes_count_or_value_only():
    with pytest.raises(ValueError, match="observes= is one of count, value, not 'amount'"):
        Scenario(id="x", title="t", expect=Expect.SAFE, build=dict, worker=print, observe=len, observes="amount")
