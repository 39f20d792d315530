"""Failures that outlive the run: ``explore --save FILE`` and ``replay --from FILE``
(racecourse.saved). The pytest plugin's cache of failing schedules is tested in
test_plugin.py."""

from __future__ import annotations

import json

import pytest

from support import nothing_left_behind, run_cli, scenario_file, start_methods  # noqa: F401 (a fixture)

METHOD = start_methods()[0]

pytestmark = pytest.mark.usefixtures("nothing_left_behind")

CLAIMS_SAFE = '''
    """claims-safe: declared safe, but increments a raw Value with no lock."""
    from racecourse import Expect, Scenario
    from racecourse.scenarios.raw_value import build, observe, worker

    WRONG = Scenario(id="claims-safe", title="t", expect=Expect.SAFE, build=build, worker=worker, observe=observe)
'''


def test_explore_saves_every_failing_outcome_and_replay_runs_them_again(tmp_path, capsys):
    saved = tmp_path / "failures.json"
    status, _, err = run_cli(capsys, "explore", "raw-array", "-m", METHOD, "--save", str(saved))
    assert status == 0, err  # racy: failing schedules are the lesson
    data = json.loads(saved.read_text())
    assert data["format"] == 1
    failures = data["failures"]
    # One per distinct failing outcome (raw-array at 2 x 1 loses 1 or 2 of its 4 updates).
    assert len(failures) == len({f["outcome"] for f in failures}) >= 2
    for failure in failures:
        assert failure["scenario"] == "raw-array" and failure["start_method"] == METHOD
        assert failure["schedule"].startswith("2x1:") and failure["python"] and failure["implementation"]

    status, out, err = run_cli(capsys, "replay", "--from", str(saved), "--json")
    assert status == 0, err
    replayed = json.loads(out)
    assert [(r["schedule"], r["outcome"]) for r in replayed] == [(f["schedule"], f["outcome"]) for f in failures]
    assert {r["result"] for r in replayed} == {"fails as saved"}


def test_a_saved_failure_of_a_safe_scenario_fails_the_replay(tmp_path, capsys):
    path = scenario_file(tmp_path, "claims_safe.py", CLAIMS_SAFE)
    saved = tmp_path / "failures.json"
    status, _, _ = run_cli(capsys, "explore", f"{path}:WRONG", "-m", METHOD, "--save", str(saved))
    assert status == 1
    (failure,) = json.loads(saved.read_text())["failures"]
    assert failure["scenario"].endswith("claims_safe.py:WRONG")
    status, out, _ = run_cli(capsys, "replay", "--from", str(saved))
    assert status == 1 and "fails as saved" in out


def test_a_schedule_that_no_longer_fits_is_said_not_run(tmp_path, capsys):
    saved = tmp_path / "failures.json"
    saved.write_text(json.dumps({"format": 1, "failures": [
        {"scenario": "lock-value", "scenario_id": "lock-value", "schedule": "2x1:0101", "start_method": METHOD}]}))
    status, out, _ = run_cli(capsys, "replay", "--from", str(saved), "--json")
    assert status == 0
    (entry,) = json.loads(out)
    assert entry["outcome"] is None and entry["result"].startswith("cannot replay it now: schedule '2x1:0101'")


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("not json", "not a file of saved failures (not JSON"),
    ('{"failures": []}', "not a file of saved failures ('explore --save' writes them)"),
    ('{"format": 1, "failures": [{"scenario": "raw-value"}]}', "failure 1 lacks its scenario, schedule or start method"),
])
def test_a_file_that_is_not_saved_failures_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "saved.json"
    if content is not None:
        path.write_text(content)
    status, out, err = run_cli(capsys, "replay", "--from", str(path))
    assert status == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["explore", "raw-value", "--save", "{tmp}"], "is a directory; give a file name"),
    (["explore", "raw-value", "--save", "{tmp}/no/such/f.json"], "no such directory"),
    (["replay", "raw-value", "--from", "{tmp}/f.json"], "--from FILE replays what the file holds"),
    (["replay", "raw-value"], "replay needs a scenario and --schedule S, or --from FILE"),
])
def test_bad_save_and_from_usage_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    status, out, err = run_cli(capsys, *[word.replace("{tmp}", str(tmp_path)) for word in argv])
    assert status == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written
