"""Every path of the command line: output, JSON keys, exit statuses, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from racecourse import catalogue, stress_runner
from support import run_cli, start_methods

METHOD = start_methods()[0]
RUN_KEYS = {"scenario", "start_method", "processes", "ops", "expect", "python", "implementation", "trials"}
TRIAL_KEYS = {"expected", "observed", "lost", "ok", "seconds"}


def test_list_shows_every_scenario(capsys):
    status, out, err = run_cli(capsys, "list")
    assert status == 0 and err == ""
    for scenario in catalogue.builtin():
        assert scenario.id in out


def test_list_json(capsys):
    status, out, _ = run_cli(capsys, "list", "--json")
    assert status == 0
    entries = json.loads(out)
    assert [e["id"] for e in entries] == [s.id for s in catalogue.builtin()]
    assert {"id", "title", "expect", "defaults"} <= set(entries[0])


def test_explain_prints_lesson_and_worker_code(capsys):
    status, out, _ = run_cli(capsys, "explain", "synchronized-value")
    assert status == 0
    assert "get_lock()" in out  # the lesson names the fix
    assert "counter.value += 1" in out  # and shows the worker's code


def test_run_racy_scenario_reports_lost_updates(capsys):
    status, out, _ = run_cli(capsys, "run", "raw-value", "-p", "2", "-k", "50000", "-t", "2", "-m", METHOD)
    assert status == 0  # racing is what raw-value declares, whether or not it shows this time
    verdict = re.search(r"lost ([\d,]+) of 200,000 updates|no update lost this time \(200,000 of 200,000\)", out)
    assert verdict is not None, out


def test_run_json_has_the_documented_keys(capsys):
    status, out, _ = run_cli(
        capsys, "run", "locked-value", "-p", "3", "-k", "500", "-t", "2", "-m", METHOD, "--json"
    )
    assert status == 0
    data = json.loads(out)
    assert RUN_KEYS <= set(data)
    assert (data["scenario"], data["processes"], data["ops"], data["expect"]) == ("locked-value", 3, 500, "safe")
    assert data["start_method"] == METHOD
    assert len(data["trials"]) == 2
    for trial in data["trials"]:
        assert TRIAL_KEYS <= set(trial)
        assert trial["expected"] == trial["observed"] == 1500 and trial["lost"] == 0 and trial["ok"]


@pytest.mark.start_method_independent
def test_run_all_covers_the_catalogue(capsys):
    # What `run --all` does (every scenario, in catalogue order, one exit status) is the
    # same under every start method; each scenario's behaviour under each method is
    # test_detection's and test_properties' to check. One trial each, default sizes.
    status, out, err = run_cli(capsys, "run", "--all", "-m", METHOD, "--trials", "1", "--json")
    runs = json.loads(out)
    assert [r["scenario"] for r in runs] == [s.id for s in catalogue.builtin()]
    assert all(len(r["trials"]) == 1 for r in runs)
    assert status == 0, err


def test_safe_scenario_that_loses_updates_exits_1(tmp_path, capsys):
    path = tmp_path / "claims_safe.py"
    path.write_text(
        '"""claims-safe: declared safe, but increments a raw Value with no lock."""\n'
        "from racecourse import Defaults, Expect, Scenario\n"
        "from racecourse.scenarios.raw_value import build, observe, worker\n"
        "WRONG = Scenario(id='claims-safe', title='t', expect=Expect.SAFE, build=build,\n"
        "                 worker=worker, observe=observe, defaults=Defaults(ops=50_000, trials=5))\n"
    )
    status, out, _ = run_cli(capsys, "run", str(path), "-m", METHOD, "--json")
    data = json.loads(out)
    # Whether the race shows is up to the scheduler; the exit status must match what happened.
    lost = any(t["lost"] for t in data["trials"])
    assert status == (1 if lost else 0)
    assert all(t["ok"] == (t["lost"] == 0) for t in data["trials"])


@pytest.mark.start_method_independent  # the tour's stops and wording; the scenarios are tested per method elsewhere
def test_tour_runs_every_stop(capsys):
    status, out, _ = run_cli(capsys, "tour")
    assert status == 0
    for number, scenario in enumerate(
        ["raw-value", "synchronized-value", "locked-value", "manager-dict", "pool-map", "module-lock"], 1
    ):
        assert f"{number}. {scenario}" in out
    assert "Tour done" in out


BAD_INPUT = [
    (["run", "raw-valeu"], "did you mean 'raw-value'"),
    (["run", "nothing-like-it"], "unknown scenario"),
    (["explain", "raw-valeu"], "did you mean"),
    (["run", "raw-value", "--processes", "0"], "processes must be from 1 to 256"),
    (["run", "raw-value", "--processes", "257"], "processes must be from 1 to 256"),
    (["run", "raw-value", "--processes", "two"], "whole number"),
    (["run", "raw-value", "--ops", "-1"], "ops must be from 0 to 1,000,000,000"),
    (["run", "raw-value", "--ops", "1.5"], "whole number"),
    (["run", "raw-value", "--trials", "0"], "trials must be from 1 to 10,000,000"),
    (["run", "raw-value", "--trials", "many"], "whole number"),
    (["run", "raw-value", "--start-method", "thread"], "not available here"),
    (["run", "raw-value", "--timeout", "-5"], "positive number of seconds"),
    (["run", "raw-value", "--timeout", "soon"], "number of seconds"),
    (["run"], "needs a scenario id"),
    (["run", "raw-value", "--all"], "not both"),
    (["run", "/no/such/file.py"], "no such scenario file"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2_with_nothing_started(argv, message, capsys, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("bad input must be refused before anything starts")

    monkeypatch.setattr(stress_runner, "run", must_not_run)
    status, out, err = run_cli(capsys, *argv)
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "Traceback" not in err


def test_missing_start_method_is_refused(monkeypatch, capsys):
    from racecourse.cli import options

    monkeypatch.setattr(options, "available_start_methods", lambda: ["spawn"])
    status, _, err = run_cli(capsys, "run", "raw-value", "-m", "fork")
    assert status == 2 and "'fork' is not available here (this platform has: spawn)" in err


# The console script installed beside this interpreter (not whichever `racecourse` comes
# first on PATH, which may belong to another installation).
SCRIPT = os.path.join(os.path.dirname(sys.executable), "racecourse")


@pytest.mark.parametrize("command", [[SCRIPT], [sys.executable, "-m", "racecourse"]])
def test_installed_entry_points_are_the_same_program(command):
    good = subprocess.run(command + ["list", "--json"], capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and json.loads(good.stdout)
    bad = subprocess.run(command + ["run", "raw-value", "-p", "0"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


@pytest.mark.parametrize("method", start_methods())
def test_installed_copy_runs_from_any_directory(method, tmp_path):
    """Children import scenarios by name from the installed package, not from the cwd."""
    command = [sys.executable, "-m", "racecourse", "run", "module-lock", "-t", "1", "-m", method, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["start_method"] == method and data["trials"][0]["observed"] > 0


# Declared safe, and it is under fork only: the module-level lock is one lock shared by
# inheritance under fork, a lock per child under spawn and forkserver.
FORK_ONLY_SCENARIO = '''
import multiprocessing

import racecourse

LOCK = multiprocessing.Lock()


def build(share):
    return {"hits": share.Value("i", 0, lock=False)}


def worker(hits, ops):
    for _ in range(ops):
        with LOCK:
            hits.value += 1


def observe(hits):
    return hits.value


COUNTER = racecourse.Scenario(id="module-locked", title="a module-level lock", expect=racecourse.Expect.SAFE,
                              build=build, worker=worker, observe=observe)
'''


def test_explore_and_run_across_start_methods(tmp_path):
    # In a command of its own: it forks, and this test process may be an xdist worker.
    path = tmp_path / "counter.py"
    path.write_text(FORK_ONLY_SCENARIO)
    command = [sys.executable, "-m", "racecourse"]
    done = subprocess.run(command + ["explore", str(path), "--start-method", "all"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    rows = [line.split()[:2] for line in done.stdout.splitlines() if line.startswith("module-locked")]
    assert rows == [["module-locked", method] for method in available_methods()], done.stdout
    assert "spawn: first failing schedule" in done.stdout and "fork: first failing" not in done.stdout
    assert done.returncode == 1, done.stderr  # safe under fork; the others break it: one status for all
    done = subprocess.run(command + ["explore", str(path), "-m", "fork", "--json"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["start_method"] == "fork"  # one method: one object
    done = subprocess.run(command + ["explore", str(path), "-m", "spawn,fork", "--json"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert [(r["start_method"], r["ok"]) for r in json.loads(done.stdout)] == [("spawn", False), ("fork", True)]
    assert done.returncode == 1
    done = subprocess.run(command + ["run", "locked-value", "-m", "forkserver,fork", "--ops", "100", "--trials", "1",
                                     "--json"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert [(r["start_method"], r["ops"]) for r in json.loads(done.stdout)] == [("forkserver", 100), ("fork", 100)]
    assert done.returncode == 0, done.stderr


def available_methods():
    from racecourse.sharing import available_start_methods

    return available_start_methods()


@pytest.mark.parametrize("argv, words", [
    (["run", "raw-value", "-m", ","], "no start method in ','"),
    (["explore", "raw-value", "-m", "fork,thread"], "start method 'thread' is not available here"),
    (["explore", "raw-value", "-m", "all", "--svg", "t.svg"], "--svg writes one timeline"),
])
def test_bad_start_method_lists_are_one_line_and_exit_2(capsys, argv, words):
    status, _, err = run_cli(capsys, *argv)
    assert status == 2 and words in err and len(err.strip().splitlines()) == 1, err
