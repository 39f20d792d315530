"""A new user's own files and unusual values: one clear line, the right exit status."""

from __future__ import annotations

import json
import os
import sys

import pytest

from racecourse import catalogue, fast_trials, stress_runner
from racecourse.control import engine
from racecourse.model import NotImportable, check_importable_worker
from racecourse.scenarios.raw_value import build, observe
from support import run_cli

COUNTER_FILE = '''
"""A counter of the user's own."""
from racecourse import Expect, Scenario
from racecourse.scenarios.raw_value import build, observe, worker
FIRST = Scenario(id="first", title="t", expect=Expect.RACY, build=build, worker=worker, observe=observe)
'''


@pytest.fixture
def nothing_starts(monkeypatch):
    """Bad input is refused before any runner starts a process."""

    def must_not_run(*args, **kwargs):
        raise AssertionError("bad input must be refused before anything starts")

    monkeypatch.setattr(stress_runner, "run_trial", must_not_run)
    monkeypatch.setattr(fast_trials, "_FastWorkers", must_not_run)
    monkeypatch.setattr(engine.Controller, "_start", must_not_run)


BROKEN_FILES = {
    "syntax.py": ("x = = 1\n", "syntax.py, line 1: SyntaxError: invalid syntax"),
    "missing.py": ("import os\nimport no_such_module_for_racecourse\n",
                   "missing.py, line 2: ModuleNotFoundError: No module named 'no_such_module_for_racecourse'"),
    "raises.py": ("from racecourse import Scenario\nScenario(id='x', title='t', expect=None, build=len)\n",
                  "raises.py, line 2: ValueError: scenario 'x': give exactly one of worker= or program="),
}


@pytest.mark.parametrize("command", ["run", "explain", "explore", "replay", "play"])
@pytest.mark.parametrize("filename", sorted(BROKEN_FILES))
def test_a_broken_scenario_file_is_one_line_naming_file_line_and_error(
    command, filename, tmp_path, monkeypatch, capsys, nothing_starts
):
    source, line = BROKEN_FILES[filename]
    (tmp_path / filename).write_text(source)
    monkeypatch.chdir(tmp_path)
    extra = ["--schedule", "01"] if command == "replay" else []
    status, out, err = run_cli(capsys, command, filename, *extra)
    assert status == 2 and out == ""
    assert err.splitlines()[0] == f"racecourse: {line}"
    assert "racecourse/" not in err  # none of racecourse's own frames


def test_a_module_that_raises_while_imported_shows_the_users_frames_only(tmp_path, monkeypatch, capsys):
    (tmp_path / "outer.py").write_text("import inner_helper\n")
    (tmp_path / "inner_helper.py").write_text("def f():\n    raise RuntimeError('boom')\n\nf()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    status, _, err = run_cli(capsys, "run", "outer:X")
    lines = err.splitlines()
    assert status == 2
    assert lines[0] == "racecourse: cannot import module 'outer': inner_helper.py, line 2: RuntimeError: boom"
    assert "outer.py" in err and "racecourse/" not in err and "importlib" not in err


@pytest.mark.parametrize("target, hint", [
    ("my_counter", "did you mean the file 'my_counter.py'?"),
    ("my_counter:FIRST", "did you mean the file 'my_counter.py:FIRST'?"),
    ("notes.txt", "notes.txt is not a Python file"),
])
def test_a_file_named_without_py_is_suggested(target, hint, tmp_path, monkeypatch, capsys):
    (tmp_path / "my_counter.py").write_text(COUNTER_FILE)
    (tmp_path / "notes.txt").write_text(COUNTER_FILE)
    monkeypatch.chdir(tmp_path)
    # Another test in this process may have loaded a my_counter.py of its own (a loaded
    # scenario file stays importable by its name, as spawn children need): not this one.
    monkeypatch.delitem(sys.modules, "my_counter", raising=False)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not os.path.isfile(os.path.join(p or ".", "my_counter.py"))])
    status, out, err = run_cli(capsys, "run", target)
    assert status == 2 and out == ""
    assert hint in err and len(err.splitlines()) == 1


def nested_worker():
    def worker(counter, ops):
        counter.value += ops

    return worker


@pytest.mark.parametrize("worker", [lambda counter: None, nested_worker()], ids=["lambda", "nested"])
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_worker_a_child_cannot_import_is_refused_before_anything_starts(worker, method, nothing_starts):
    import racecourse

    with pytest.raises(NotImportable, match="^workers must be module-level functions: "):
        racecourse.stress(worker, build=build, observe=observe, start_method=method)
    with pytest.raises(NotImportable, match="^workers must be module-level functions: "):
        racecourse.explore(worker, build=build, observe=observe, start_method=method)
    scenario = racecourse.api.as_scenario(worker, build=build, observe=observe)
    with pytest.raises(NotImportable):
        fast_trials.run(scenario, trials=2, start_method=method)


def test_fork_and_declared_scenarios_need_no_importable_worker():
    import racecourse

    lambda_scenario = racecourse.api.as_scenario(lambda counter: None, build=build, observe=observe)
    check_importable_worker(lambda_scenario, "fork")  # fork pickles nothing
    declared = catalogue.resolve_one("raw-value")
    check_importable_worker(declared, "spawn")  # found again by module and name


TWO_SCENARIOS = COUNTER_FILE + 'SECOND = Scenario(id="second", title="t2", expect=Expect.RACY, build=build, ' \
    'worker=worker, observe=observe)\n'


@pytest.mark.parametrize("command", ["explore", "replay", "play"])
def test_a_file_of_several_scenarios_needs_a_name_where_one_is_run(command, tmp_path, monkeypatch, capsys, nothing_starts):
    (tmp_path / "two.py").write_text(TWO_SCENARIOS)
    monkeypatch.chdir(tmp_path)
    extra = ["--schedule", "01"] if command == "replay" else []
    status, out, err = run_cli(capsys, command, "two.py", *extra)
    assert status == 2 and out == ""
    assert err.strip() == ("racecourse: two.py declares 2 scenarios (FIRST, SECOND): explore, replay and play "
                           "take one, so add :NAME, e.g. two.py:FIRST (run and explain take them all)")


def test_run_and_explain_take_every_scenario_of_a_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "two.py").write_text(TWO_SCENARIOS)
    monkeypatch.chdir(tmp_path)
    status, out, _ = run_cli(capsys, "explain", "two.py")
    assert status == 0 and "first: t" in out and "second: t2" in out
    status, out, _ = run_cli(capsys, "run", "two.py", "-k", "3", "-t", "1", "--json")
    assert status == 0 and [run["scenario"] for run in json.loads(out)] == ["first", "second"]


HUGE = [
    (["run", "raw-value", "--timeout", "1e9"], "timeout must be at most 86400 seconds (a day), not 1e9"),
    (["explore", "raw-value", "--timeout", "1e12"], "timeout must be at most 86400 seconds"),
    (["replay", "raw-value", "--schedule", "01", "--timeout", "1e9"], "timeout must be at most"),
    (["play", "raw-value", "--timeout", "1e300"], "timeout must be at most"),
    (["run", "raw-value", "--trials", "99999999999999999999"], "trials must be from 1 to 10,000,000, not 99,99"),
    (["run", "raw-value", "--ops", "99999999999999999999999"], "ops must be from 0 to 1,000,000,000, not 99,"),
    (["explore", "raw-value", "--budget", "99999999999999999999"], "budget must be from 1 to 10,000,000"),
]


@pytest.mark.parametrize("argv, message", HUGE, ids=[" ".join(a) for a, _ in HUGE])
def test_values_past_the_documented_limits_are_refused(argv, message, capsys, nothing_starts):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == ""
    assert message in err and len(err.splitlines()) == 1


def test_connect_with_a_scenario_that_uses_no_server_is_refused(tmp_path, capsys, nothing_starts):
    key = tmp_path / "key"
    key.write_bytes(b"0123456789abcdef")
    status, out, err = run_cli(capsys, "run", "raw-value", "--connect", "127.0.0.1:1", "--authkey-file", str(key))
    assert status == 2 and out == ""
    assert err.strip() == ("racecourse: --connect is for scenarios that use a Manager server (remote-manager, "
                           "remote-manager-locked); raw-value uses none")


def test_the_scenarios_connect_applies_to_are_the_remote_ones():
    from racecourse.sharing import uses_remote_manager

    users = {s.id for s in catalogue.builtin() if uses_remote_manager(s.build)}
    assert users == {"remote-manager", "remote-manager-locked"}


SIZES_THAT_CANNOT_RACE = [
    (["run", "raw-value", "--ops", "0", "-t", "1", "--no-fast"],
     "no update lost (0 of 0): with --ops 0 the workers did nothing, so nothing could race"),
    (["run", "raw-value", "-p", "1", "-k", "5", "-t", "1"],
     "no update lost (5 of 5): one process cannot race with itself: give --processes 2 or more"),
    (["run", "raw-value", "-p", "1", "-k", "1", "-t", "100", "--fast"],
     "no race seen in 100 trials: one process cannot race with itself: give --processes 2 or more"),
    (["run", "check-then-act", "-p", "1", "-k", "2", "-t", "1"],
     "invariant held in 1 of 1 trials: one process cannot race with itself"),
    (["run", "deadlock", "-p", "1", "-k", "2", "-t", "1"],
     "no deadlock in 1 of 1 trials: one process cannot deadlock with itself"),
    (["run", "global-counter", "--ops", "0", "-t", "1"], "exact: 0 of 0 updates"),
    (["explore", "raw-value", "-p", "1"], "one process cannot race with itself"),
    (["explore", "raw-value", "-k", "0"], "with --ops 0 the workers did nothing"),
]


@pytest.mark.parametrize("argv, verdict", SIZES_THAT_CANNOT_RACE, ids=[" ".join(a) for a, _ in SIZES_THAT_CANNOT_RACE])
def test_a_size_that_cannot_race_says_so(argv, verdict, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # whole lines, as a pipe gets them
    status, out, _ = run_cli(capsys, *argv)
    assert status == 0 and verdict in out
    assert "nothing was shared" not in out and "try more" not in out


def test_bare_racecourse_is_one_line_of_usage_on_stderr(capsys):
    status, out, err = run_cli(capsys)
    assert status == 2 and out == ""
    assert err.strip() == ("racecourse: give a command (list, explain, run, explore, replay, play, diff, tour, bench, "
                           "serve); 'racecourse --help' explains them")


def test_version_names_the_interpreter_and_start_methods(capsys):
    import platform

    from racecourse import __version__
    from racecourse.sharing import available_start_methods

    with pytest.raises(SystemExit) as stopped:
        run_cli(capsys, "--version")
    out = capsys.readouterr().out
    assert stopped.value.code == 0
    assert out.startswith(f"racecourse {__version__} ({platform.python_implementation()} {platform.python_version()}; ")
    assert f"start methods: {', '.join(available_start_methods())}; default: " in out and "\n" not in out.strip()


def test_the_version_is_the_packages():
    import pathlib

    from racecourse import __version__

    pyproject = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("needs the source tree")
    assert f'\nversion = "{__version__}"\n' in pyproject.read_text()


def test_the_deadlock_svg_is_wide_enough_for_its_longest_line(tmp_path, capsys):
    import re

    svg = tmp_path / "deadlock.svg"
    status, _, _ = run_cli(capsys, "explore", "deadlock", "--svg", str(svg))
    text = svg.read_text()
    width = int(re.search(r'<svg [^>]*width="(\d+)"', text).group(1))
    for x, line in re.findall(r'<text x="(\d+)"[^>]*>(?:<title>.*?</title>)?([^<]*)</text>', text):
        assert int(x) + 7.2 * len(line) <= width, line  # 12 px monospace: 0.6 em a character
    assert status == 0 and "holds bob.lock and waits for alice.lock" in text


def test_the_run_table_fits_the_terminal_and_labels_its_times(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    status, out, _ = run_cli(capsys, "run", "raw-value", "-p", "1", "-k", "3", "-t", "1", "--no-fast")
    assert status == 0 and max(len(line) for line in out.splitlines()) <= 80, out
    header = out.splitlines()[0].split()
    assert header[7:9] == ["race", "wall"]


def test_the_fast_histogram_names_every_column_and_counts_in_words(capsys):
    status, out, _ = run_cli(capsys, "run", "raw-value", "-p", "1", "-k", "1", "-t", "100", "--fast")
    lines = out.splitlines()
    assert status == 0 and ", racy, 1 process x 1 op): 100 fast trials" in lines[0]
    # raw-value grades its outcomes, so jcstress's grade and description columns follow.
    assert lines[1].split() == ["final", "count", "trials", "share", "bar", "means", "grade", "what", "it", "is"]
    assert len(lines[2].split()) == 7  # one dash run per column


MISTAKEN_CHECKS = {
    # check() names a size, which only workers are given: found when the first schedule ends.
    "def check(counter, processes):\n    return None\n": "mine: check() asks for processes, but only counter exist",
    "def check(counter):\n    return 1 / 0\n": "mine: check() raised ZeroDivisionError: division by zero (mine.py, line 4)",
}


@pytest.mark.parametrize("check", sorted(MISTAKEN_CHECKS))
def test_a_mistake_in_the_scenarios_check_ends_explore_in_one_line(check, start_method, tmp_path, monkeypatch,
                                                                      capsys, nothing_left_behind):
    (tmp_path / "mine.py").write_text(
        "from racecourse import Expect, Scenario\n"
        "from racecourse.scenarios.raw_value import build, worker\n"
        f"{check}"
        "SCENARIO = Scenario(id='mine', title='t', expect=Expect.SAFE, build=build, worker=worker, check=check)\n")
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(capsys, "explore", "mine.py", "-m", start_method)
    assert status == 3
    assert err.splitlines() == [f"racecourse: {MISTAKEN_CHECKS[check]}"]


RUN_MISTAKES = {
    # The trial cannot be judged: it did not complete, said once with the user's own line
    # (no frame of racecourse's: the mistake is in the file, not in racecourse).
    "def check(counter, processes):\n    return None\n": (
        ["mine (M): the parent: TypeError: check() asks for processes, but only counter exist"]),
    "def check(counter):\n    return 1 / 0\n": (
        ["mine (M): the parent: ZeroDivisionError: division by zero", "    Traceback (most recent call last):",
         '      File "mine.py", line 4, in check']),
}


@pytest.mark.parametrize("check", sorted(RUN_MISTAKES))
def test_a_mistake_in_the_scenarios_check_fails_run_without_racecourses_frames(check, start_method, tmp_path,
                                                                              monkeypatch, capsys,
                                                                              nothing_left_behind):
    (tmp_path / "mine.py").write_text(
        "from racecourse import Expect, Scenario\n"
        "from racecourse.scenarios.raw_value import build, worker\n"
        f"{check}"
        "SCENARIO = Scenario(id='mine', title='t', expect=Expect.SAFE, build=build, worker=worker, check=check)\n")
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(capsys, "run", "mine.py", "-m", start_method, "--trials", "1", "-k", "10")
    assert status == 3 and "did not complete" in out
    lines = [line.replace(str(tmp_path) + "/", "") for line in err.splitlines()]
    expected = [line.replace("(M)", f"({start_method})") for line in RUN_MISTAKES[check]]
    assert lines[:len(expected)] == expected
    assert "racecourse/" not in err
