"""Outcome grades, jcstress-style: a scenario declares each kind of outcome acceptable,
interesting or forbidden, with a one-line description; reports print the grade beside
each outcome, and a forbidden one fails the run."""

from __future__ import annotations

import json

import pytest

from racecourse import Acceptable, Expect, Forbidden, Grade, Interesting, Scenario, catalogue
from racecourse.model import UNDECLARED
from support import nothing_left_behind, run_cli, scenario_file, start_methods  # noqa: F401 (a fixture)

METHOD = start_methods()[0]

pytestmark = pytest.mark.usefixtures("nothing_left_behind")


def test_the_first_matching_kind_wins_and_undeclared_outcomes_are_forbidden():
    scenario = Scenario(id="g", title="t", expect=Expect.RACY, build=dict, worker=print, observe=int, outcomes=(
        Acceptable("all there", when=lambda observed, expected: observed == expected),
        Interesting("some lost", when=lambda observed: observed >= 1),
        Forbidden("never seen in practice", when=lambda observed: observed >= 0),
    ))
    assert scenario.grade(4, 4, None, 2, 2).description == "all there"
    assert scenario.grade(3, 4, None, 2, 2).grade is Grade.INTERESTING
    assert scenario.grade(0, 4, None, 2, 2).description == "never seen in practice"
    assert scenario.grade(-1, 4, None, 2, 2) is UNDECLARED
    ungraded = Scenario(id="u", title="t", expect=Expect.RACY, build=dict, worker=print, observe=int)
    assert ungraded.grade(1, 2, None, 2, 1) is None


@pytest.mark.parametrize("processes, ops, counts", [(2, 1, {1, 2}), (2, 2, {2, 3, 4}), (3, 1, {1, 2, 3})])
def test_raw_value_reaches_exactly_the_counts_its_grades_allow(processes, ops, counts, capsys):
    # Theory (scenarios/raw_value.py): N >= 2 processes of K increments each end anywhere
    # from min(K, 2) to N * K, and nowhere else. Exhaustive exploration reaches every one of
    # them, and nothing it reaches is forbidden.
    status, out, err = run_cli(capsys, "explore", "raw-value", "-p", str(processes), "-k", str(ops), "-m", METHOD,
                               "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["complete"]
    reached = {int(outcome.split("=")[1].split()[0]) for outcome in result["outcomes"]}
    assert reached == counts
    grades = {int(outcome.split("=")[1].split()[0]): entry["grade"] for outcome, entry in result["grades"].items()}
    assert grades == {count: "acceptable" if count == processes * ops else "interesting" for count in counts}


NOTHING_DONE = '''
    """nothing-done: a worker that does nothing, and an outcome declared forbidden."""
    from racecourse import Acceptable, Defaults, Expect, Forbidden, Scenario

    def build(share):
        return {"counter": share.Value("i", 0, lock=False)}

    def worker(counter, ops):
        pass

    IDLE = Scenario(id="nothing-done", title="t", expect=Expect.RACY, build=build, worker=worker,
                    observe=lambda counter: counter.value, defaults=Defaults(processes=2, ops=3, trials=2),
                    outcomes=(Acceptable("every increment counted", when=lambda observed, expected: observed == expected),
                              Forbidden("nothing counted: the workers never ran", when=lambda observed: observed == 0)))
'''


@pytest.mark.parametrize("how", [["--no-fast"], ["--fast", "-t", "200"]])
def test_a_forbidden_outcome_fails_a_run_even_of_a_racy_scenario(tmp_path, capsys, how):
    path = scenario_file(tmp_path, "nothing_done.py", NOTHING_DONE)
    status, out, _ = run_cli(capsys, "run", f"{path}:IDLE", "-m", METHOD, "--json", *how)
    assert status == 1
    result = json.loads(out)
    assert result["verdict"].startswith("FORBIDDEN outcome in ")
    assert "nothing counted: the workers never ran" in result["verdict"]
    rows = result["trials"] if how == ["--no-fast"] else result["histogram"]
    assert {(row["grade"], row["meaning"]) for row in rows} == {("forbidden", "nothing counted: the workers never ran")}


def test_a_forbidden_outcome_fails_an_exploration(tmp_path, capsys):
    path = scenario_file(tmp_path, "nothing_done.py", NOTHING_DONE.replace("pass", "counter.value += 1"))
    # Now the increments race: 2 x 1 reaches 1 (undeclared, so forbidden) and 2 (acceptable).
    status, out, _ = run_cli(capsys, "explore", f"{path}:IDLE", "-k", "1", "-m", METHOD)
    assert status == 1
    assert "FORBIDDEN outcome in 2 of 4 schedules: count=1 (expected 2, 1 lost) (an outcome the scenario does " \
           "not declare)" in out
    assert "forbidden: an outcome the scenario does not declare" in out


def test_histograms_print_the_grade_and_what_it_means(capsys):
    status, out, _ = run_cli(capsys, "run", "check-then-act", "-k", "1", "-t", "300", "-m", METHOD)
    assert status == 0
    header = next(line for line in out.splitlines() if line.startswith("invariant"))
    assert header.split()[-4:] == ["grade", "what", "it", "is"]
    held = next(line for line in out.splitlines() if line.startswith("held"))
    assert held.split()[-5:] == ["acceptable", "no", "account", "below", "zero"]
    assert catalogue.resolve_one("raw-value").outcomes  # the catalogue teaches with grades
