"""The pytest plugin, tested from the outside with pytester (a pytest run in a subprocess)."""

from __future__ import annotations

import re
import subprocess
import textwrap

import pytest

from racecourse.sharing import available_start_methods

pytestmark = pytest.mark.start_method_independent

USER_CODE = textwrap.dedent('''
    import pytest

    def build(share):
        return {"hits": share.Value("i", 0)}

    def racy(hits, ops):
        for _ in range(ops):
            hits.value += 1

    def safe(hits, ops):
        for _ in range(ops):
            with hits.get_lock():
                hits.value += 1

    def observe(hits):
        return hits.value

    def test_safe_code_passes(racecourse):
        result = racecourse.check_stress(safe, build=build, observe=observe, ops=500)
        assert result.start_method == racecourse.start_method

    def test_methods(start_method):
        print("METHOD", start_method)

    @pytest.mark.racecourse(start_methods=["spawn"])
    def test_only_spawn(start_method):
        assert start_method == "spawn"

    def test_racy_code_is_reported(racecourse):
        # A worker that raises is a failure whatever the scheduling: deterministic.
        racecourse.check_stress(broken, build=build, observe=observe, ops=10)

    def broken(hits, index):
        if index == 1:
            raise KeyError("slot 7 went missing")
''')


@pytest.fixture
def user_tests(pytester):
    pytester.makepyfile(test_user=USER_CODE)
    return pytester


def test_one_run_per_available_start_method(user_tests, monkeypatch):
    monkeypatch.delenv("RACECOURSE_START_METHOD", raising=False)
    result = user_tests.runpytest_subprocess("-v", "-s", "-k", "methods")
    methods = available_start_methods()
    result.assert_outcomes(passed=len(methods))
    for method in methods:
        result.stdout.fnmatch_lines([f"*test_methods?{method}?*"])


def test_start_methods_option_and_environment_variable(user_tests, monkeypatch):
    monkeypatch.setenv("RACECOURSE_START_METHOD", "spawn")
    result = user_tests.runpytest_subprocess("-v", "-k", "methods")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_methods?spawn?*"])
    # The option wins over the environment variable.
    result = user_tests.runpytest_subprocess("-v", "-k", "methods", "--start-methods=fork,forkserver")
    result.assert_outcomes(passed=2)


def test_marker_narrows_the_start_methods(user_tests, monkeypatch):
    monkeypatch.delenv("RACECOURSE_START_METHOD", raising=False)
    result = user_tests.runpytest_subprocess("-v", "-k", "only_spawn", "--start-methods=fork,spawn")
    result.assert_outcomes(passed=1)
    result = user_tests.runpytest_subprocess("-v", "-k", "only_spawn", "--start-methods=fork")
    result.assert_outcomes(skipped=1)


def test_bad_start_method_is_a_usage_error(user_tests):
    result = user_tests.runpytest_subprocess("--start-methods=thread")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*start method(s) thread not available here*"])


def test_fixture_runs_user_code_and_failure_shows_the_childs_traceback(user_tests, monkeypatch):
    monkeypatch.setenv("RACECOURSE_START_METHOD", "spawn")
    result = user_tests.runpytest_subprocess("-k", "safe_code or racy_code")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*broken (spawn, 2 processes x 10 ops): did not complete: worker 1: KeyError*slot 7 went missing*",
        "*raise KeyError(\"slot 7 went missing\")*",
    ])


def test_works_under_xdist(user_tests, monkeypatch):
    monkeypatch.delenv("RACECOURSE_START_METHOD", raising=False)
    result = user_tests.runpytest_subprocess("-n", "2", "-k", "safe_code or methods")
    result.assert_outcomes(passed=2 * len(available_start_methods()))


EXPLORED_CODE = textwrap.dedent('''
    import pytest

    def build(share):
        return {"hits": share.Value("i", 0, lock=False), "lock": share.Lock()}

    def racy(hits, ops):
        for _ in range(ops):
            hits.value += 1

    def safe(hits, lock, ops):
        for _ in range(ops):
            with lock:
                hits.value += 1

    def observe(hits):
        return hits.value

    def test_safe_in_every_interleaving(racecourse):
        result = racecourse.check_explore(safe, build=build, observe=observe, processes=2, ops=2)
        assert result.complete and result.start_method == racecourse.start_method

    def test_racy_in_some_interleaving(racecourse):
        racecourse.check_explore(racy, build=build, observe=observe)

    def test_budget_too_small_is_not_a_proof(racecourse):
        racecourse.check_explore(safe, build=build, observe=observe, processes=2, ops=2, budget=2)

    def test_sampled_on_purpose(racecourse):
        result = racecourse.check_explore(safe, build=build, observe=observe, ops=2, budget=2, complete=False)
        assert result.schedules == 2 and not result.complete

    def test_replay_and_explore_are_bound(racecourse):
        run = racecourse.replay(racy, build=build, observe=observe, schedule="2x1:0110")
        assert not run.ok and run.start_method == racecourse.start_method
        assert racecourse.explore(racy, build=build, observe=observe).start_method == racecourse.start_method
''')


@pytest.fixture
def explored_tests(pytester):
    pytester.makepyfile(test_explored=EXPLORED_CODE)
    return pytester


def test_check_explore_failure_shows_schedule_replay_command_and_timeline(explored_tests):
    method = available_start_methods()[-1]
    result = explored_tests.runpytest_subprocess(f"--start-methods={method}", "-k", "interleaving or bound")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        f"racy ({method}, 2 processes x 1 op, exhaustive exploration): 2 of 4 schedules went wrong*",
        "minimal failing schedule: 0110 (fewest context switches): count=1 (expected 2, 1 lost)",
        "replay: *racecourse.replay(test_explored.racy, build=test_explored.build, observe=test_explored.observe*",
        f"racy: 2 processes x 1 op, {method}, schedule 0110",
        "step  process 0 *process 1 *",
        "*LOST*",
    ])
    # The printed command reproduces the failure: same schedule, same outcome, exit status 1.
    command = re.search(r"^replay: (.*)$", result.stdout.str(), re.M).group(1)
    done = subprocess.run(command, shell=True, cwd=explored_tests.path.parent, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stderr
    assert f"racy: 2 processes x 1 op, {method}, schedule 0110" in done.stdout
    assert "outcome: count=1 (expected 2, 1 lost)" in done.stdout


def test_check_explore_demands_a_complete_exploration_unless_told(explored_tests):
    method = available_start_methods()[0]
    result = explored_tests.runpytest_subprocess(f"--start-methods={method}", "-k", "budget or sampled")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*the budget ran out before every schedule ran*"])


def test_check_explore_under_xdist(explored_tests, monkeypatch):
    monkeypatch.delenv("RACECOURSE_START_METHOD", raising=False)
    methods = available_start_methods()
    result = explored_tests.runpytest_subprocess("-n", "2", "-k", "interleaving")
    result.assert_outcomes(passed=len(methods), failed=len(methods))
    for method in methods:
        result.stdout.fnmatch_lines([f'*replay: *start_method="{method}"*'])
