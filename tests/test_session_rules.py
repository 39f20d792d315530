"""The session rules of tests/conftest.py hold: each one fails a run that breaks it.

Each test runs a small pytest session in a subprocess with this suite's conftest.py.
"""

from __future__ import annotations

import pathlib
import sys
import textwrap

import pytest

pytestmark = pytest.mark.start_method_independent

TESTS = pathlib.Path(__file__).resolve().parent

FORKS = textwrap.dedent('''
    import multiprocessing
    import threading


    def child():
        pass


    def fork_once():
        process = multiprocessing.get_context("fork").Process(target=child)
        process.start()
        process.join()
        assert process.exitcode == 0


    def test_plain_fork():
        fork_once()


    def test_fork_while_a_thread_runs():
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait)
        thread.start()
        try:
            fork_once()
        finally:
            stop.set()
            thread.join()
''')

WARNINGS = textwrap.dedent('''
    import warnings


    def test_warning_from_racecourse():
        warnings.warn_explicit("from the library", UserWarning, "sharing.py", 1, module="racecourse.sharing")


    def test_warning_from_a_scenario():
        warnings.warn_explicit("from a lesson", DeprecationWarning, "raw_value.py", 1,
                               module="racecourse.scenarios.raw_value")


    def test_warning_from_a_module_with_a_similar_name():
        warnings.warn_explicit("not ours", UserWarning, "racecourse_extras.py", 1, module="racecourse_extras")
''')


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A scratch project with this suite's conftest.py and support.py."""
    monkeypatch.delenv("RACECOURSE_START_METHOD", raising=False)
    for name in ("conftest.py", "support.py"):
        (pytester.path / name).write_text((TESTS / name).read_text())
    return pytester


@pytest.mark.skipif(sys.platform != "linux", reason="fork is a Linux start method here")
def test_fork_while_a_thread_runs_fails_that_test_and_the_session(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_forks=FORKS)
    result = suite.runpytest_subprocess("-n", "0", "-p", "no:cacheprovider")
    # The at-fork hook fails the test on every interpreter; CPython warns from 3.12 on,
    # and the warning fails the whole session as well.
    warns = sys.version_info >= (3, 12) and sys.implementation.name == "cpython"
    result.assert_outcomes(passed=2, errors=1, warnings=1 if warns else 0)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_fork_while_a_thread_runs*",
                                 "fork() ran in a process with threads*"])
    if warns:
        result.stdout.fnmatch_lines(["*= fork() in a process with threads (fails the session) =*",
                                     "test_forks.py::test_fork_while_a_thread_runs"])
    plain = suite.runpytest_subprocess("-n", "0", "-p", "no:cacheprovider", "-k", "plain")
    plain.assert_outcomes(passed=1)
    assert plain.ret == pytest.ExitCode.OK


def test_a_fork_session_refuses_xdist(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    suite.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    monkeypatch.setenv("RACECOURSE_START_METHOD", "fork")
    result = suite.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*a fork session runs without -n*"])
    monkeypatch.setenv("RACECOURSE_START_METHOD", "spawn")  # the same under spawn is fine
    assert suite.runpytest_subprocess("-n", "1", "-p", "no:cacheprovider").ret == pytest.ExitCode.OK


def test_racecourse_warnings_are_errors(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_warnings=WARNINGS)
    result = suite.runpytest_subprocess("-n", "0", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2, warnings=1)
    result.stdout.fnmatch_lines(["FAILED *test_warning_from_racecourse*", "FAILED *test_warning_from_a_scenario*"])


def test_side_by_side_shards_run_every_test_once_and_fail_as_one(suite: pytest.Pytester) -> None:
    """tools/side_by_side.py runs a fork session as two pytest processes (--shard 1/2 and
    2/2): together they run every test exactly once, and one failure fails the whole."""
    tests = "\n".join(f"def test_{n}():\n    assert {n} != FAIL\n" for n in range(7))
    suite.makepyfile(test_numbers="FAIL = -1\n" + tests)
    tool = [sys.executable, str(TESTS.parent / "tools" / "side_by_side.py"), "2", "--"]
    pytest_command = [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-v"]
    result = suite.run(*tool, *pytest_command)
    assert result.ret == 0, result.stdout.str()
    ran = [line.split(" ")[0] for line in result.outlines if " PASSED" in line]
    assert sorted(ran) == sorted(f"test_numbers.py::test_{n}" for n in range(7))  # each once
    result.stdout.fnmatch_lines(["*4 passed, 3 deselected*", "*shard 2 of 2*", "*3 passed, 4 deselected*"])

    (suite.path / "test_numbers.py").write_text("FAIL = 5\n" + tests)
    failed = suite.run(*tool, *pytest_command)
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    failed.stdout.fnmatch_lines(["*test_5 FAILED*"])
    assert suite.run(*tool).ret == 2  # no command: a usage line, nothing run
