"""The pytest plugin, tested from the outside with pytester (a pytest run in a subprocess)."""

from __future__ import annotations

import platform
import re
import subprocess
import textwrap

import pytest

from racecourse.sharing import available_start_methods

pytestmark = pytest.mark.start_method_independent(run_under="forkserver")

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

    # safe at 2 x 2 needs 2 complete schedules (state caching: one per process that can
    # run the last section): a budget of 1 stops short.
    def test_budget_too_small_is_not_a_proof(racecourse):
        racecourse.check_explore(safe, build=build, observe=observe, processes=2, ops=2, budget=1)

    def test_sampled_on_purpose(racecourse):
        result = racecourse.check_explore(safe, build=build, observe=observe, ops=2, budget=1, complete=False)
        assert result.schedules == 1 and not result.complete

    def shares_nothing(processes):
        return {"hits": processes}

    def test_uncontrollable_code(racecourse):
        racecourse.check_explore(racy, build=shares_nothing, observe=observe)

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
    result = explored_tests.runpytest_subprocess(f"--start-methods={method}", "-k", "budget or sampled or uncontrol")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*the budget ran out before every schedule ran*"])
    # What racecourse refuses is its sentence, not a traceback into racecourse.control.
    sections = failure_sections(result.stdout.str())
    refused = sections[f"test_uncontrollable_code[{method}]"]
    assert refused.strip() == ("racecourse: Uncontrollable: racy shares nothing that racecourse can see (build() "
                               "returned hits and no Value, Array, shared memory, Manager proxy or lock, there or "
                               "inside them): there "
                               "is no interleaving to control"), refused


def test_check_explore_under_xdist(explored_tests, monkeypatch):
    monkeypatch.delenv("RACECOURSE_START_METHOD", raising=False)
    methods = available_start_methods()
    result = explored_tests.runpytest_subprocess("-n", "2", "-k", "interleaving")
    result.assert_outcomes(passed=len(methods), failed=len(methods))
    for method in methods:
        result.stdout.fnmatch_lines([f'*replay: *start_method="{method}"*'])


# Ordinary user tests of fork-only code: the module global is set in the test body, so only
# a forked child sees it. Under spawn and forkserver the child imports this module afresh
# and FACTOR is None there: scale() raises TypeError (the right reason, asserted below).
FORK_ONLY_CODE = textwrap.dedent('''
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    import pytest

    FACTOR = None

    def scale(x):
        return x * FACTOR

    def put_scaled(queue):
        queue.put(scale(2))

    def record(results):
        results.append(scale(5))

    def pool_case():
        global FACTOR
        FACTOR = 3
        with mp.Pool(2) as pool:
            assert pool.map(scale, range(4)) == [0, 3, 6, 9]

    def process_case():
        global FACTOR
        FACTOR = 3
        queue = mp.Queue()
        child = mp.Process(target=put_scaled, args=(queue,))
        child.start()
        child.join()
        assert child.exitcode == 0, "the child failed"
        assert queue.get(timeout=60) == 6

    def executor_case():
        global FACTOR
        FACTOR = 3
        with ProcessPoolExecutor(2) as executor:
            assert list(executor.map(scale, range(4))) == [0, 3, 6, 9]

    def manager_case():
        global FACTOR
        FACTOR = 3
        with mp.Manager() as manager:
            results = manager.list()
            child = mp.Process(target=record, args=(results,))
            child.start()
            child.join()
            assert list(results) == [15]

    def test_pool_fixture(start_method):
        pool_case()

    def test_process_fixture(racecourse):
        assert mp.get_start_method() == racecourse.start_method
        process_case()

    def test_executor_fixture(start_method):
        executor_case()

    def test_manager_fixture(start_method):
        manager_case()

    def test_pool():
        pool_case()

    def test_process():
        process_case()

    @pytest.mark.racecourse
    def test_executor():
        executor_case()

    def test_manager():
        manager_case()

    @pytest.fixture
    def method_a_fixture_sees():
        return mp.get_start_method()

    def test_changes_the_method_itself(method_a_fixture_sees, start_method):
        assert method_a_fixture_sees == start_method == mp.get_start_method()
        assert mp.get_context().Lock()._semlock is not None and mp.Value("i").value == 0
        mp.set_start_method("spawn", force=True)  # undone after the test all the same

    def exit_with_leak_flag():
        os._exit(7 if "RACECOURSE_LEAK" in os.environ else 0)

    def child_exit_code():
        child = mp.Process(target=exit_with_leak_flag)
        child.start()
        child.join()
        return child.exitcode

    @pytest.mark.racecourse(start_methods=["forkserver"])
    def test_forkserver_started_with_a_variable(monkeypatch):
        monkeypatch.setenv("RACECOURSE_LEAK", "1")
        assert child_exit_code() == 7

    @pytest.mark.racecourse(start_methods=["forkserver"])
    def test_forkserver_of_the_next_test_is_fresh():
        assert child_exit_code() == 0

    @pytest.mark.racecourse(each_start_method=False)
    def test_zz_default_restored():
        # conftest.py set fork: every test above put it back, whatever it did.
        assert mp.get_start_method(allow_none=True) == "fork"
''')

FORK_ONLY_CONFTEST = "import multiprocessing\nmultiprocessing.set_start_method('fork', force=True)\n"
THREE_METHODS = "--start-methods=fork,spawn,forkserver"
CAUSE = "TypeError: unsupported operand type(s) for *: 'int' and 'NoneType'"
# Debian's PyPy 3.9 (7.3.11): ProcessPoolExecutor.submit calls a method its own
# concurrent.futures renamed, so the executor fails under spawn and forkserver before any
# child runs: still a failure there and a pass under fork, but for PyPy's own reason.
PYPY_EXECUTOR_BUG = "object has no attribute '_adjust_process_count'"
FORK_ONLY_TESTS = ["pool", "process", "executor", "manager"]
needs_three_methods = pytest.mark.skipif(set(available_start_methods()) != {"fork", "spawn", "forkserver"},
                                         reason="fork, spawn and forkserver are all needed")


@pytest.fixture
def fork_only_tests(pytester, monkeypatch):
    monkeypatch.delenv("RACECOURSE_START_METHOD", raising=False)
    pytester.makepyfile(test_fork_only=FORK_ONLY_CODE)
    pytester.makeconftest(FORK_ONLY_CONFTEST)
    return pytester


def failure_sections(output: str):
    """The text of each failure in pytest's report, by test id (``test_pool[spawn]``)."""
    found = {}
    for match in re.finditer(r"^_{3,} (\S+) _{3,}$(.*?)(?=^_{3,} \S+ _{3,}$|^=+ )", output, re.M | re.S):
        found[match.group(1)] = match.group(2)
    return found


def assert_fork_only_failures(result, names):
    """Every test in ``names`` passed under fork and failed under spawn and forkserver,
    each because the child saw FACTOR unset (not, say, because it could not import)."""
    outcomes = result.parseoutcomes()
    failures = failure_sections(result.stdout.str())
    expected_failures = {f"{name}[{method}]" for name in names for method in ("spawn", "forkserver")}
    assert expected_failures <= set(failures), sorted(failures)
    for test_id in expected_failures:
        if "executor" in test_id and platform.python_implementation() == "PyPy" and PYPY_EXECUTOR_BUG in failures[test_id]:
            continue
        assert CAUSE in failures[test_id], failures[test_id]
    assert not any("[fork]" in test_id for test_id in failures), sorted(failures)
    return outcomes, failures


@needs_three_methods
def test_fork_only_code_fails_under_spawn_and_forkserver_through_the_fixtures(fork_only_tests):
    result = fork_only_tests.runpytest_subprocess(THREE_METHODS, "-p", "no:randomly")
    fixture_tests = [f"test_{name}_fixture" for name in FORK_ONLY_TESTS] + ["test_executor"]
    outcomes, failures = assert_fork_only_failures(result, fixture_tests)
    # Without --each-start-method, a test with no fixture and no marker runs once, by default.
    assert set(failures) == {f"{name}[{method}]" for name in fixture_tests for method in ("spawn", "forkserver")}
    assert outcomes == {"passed": 5 + 3 + 3 + 2 + 1, "failed": 10}
    result.stdout.no_fnmatch_line("*racecourse: fork under pytest-xdist*")


@needs_three_methods
@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_each_start_method_runs_every_test_once_per_method(fork_only_tests, xdist):
    result = fork_only_tests.runpytest_subprocess(THREE_METHODS, "--each-start-method", "-v", *xdist)
    every = [f"test_{name}_fixture" for name in FORK_ONLY_TESTS] + [f"test_{name}" for name in FORK_ONLY_TESTS]
    outcomes, failures = assert_fork_only_failures(result, every)
    assert len(failures) == 16
    # 8 fork-only tests x 3, the fixture tests not twice over; the opted-out one once.
    assert outcomes == {"passed": 8 + 3 + 2 + 1, "failed": 16}
    assert re.search(r"PASSED \S*test_zz_default_restored \n|test_zz_default_restored PASSED", result.stdout.str())
    result.stdout.no_fnmatch_line("*test_zz_default_restored?fork*")
    result.stdout.no_fnmatch_line("*DeprecationWarning*")
    if xdist:  # one notice for the session, with what to do, and no warning per fork
        notices = result.stdout.str().count("racecourse: fork under pytest-xdist")
        assert notices == 1
        result.stdout.fnmatch_lines(["9 tests ran under fork in pytest-xdist workers*pytest -n 0 --start-methods=fork*"])
    else:
        result.stdout.no_fnmatch_line("*racecourse: fork under pytest-xdist*")


@needs_three_methods
def test_each_start_method_from_the_ini_file_narrowed_to_paths(fork_only_tests):
    fork_only_tests.makeini("[pytest]\nracecourse_each_start_method = sub/*\n")
    sub = fork_only_tests.mkpydir("sub")
    (sub / "test_inner.py").write_text("import multiprocessing as mp\n\ndef test_inner():\n"
                                       "    print('METHOD', mp.get_start_method())\n")
    result = fork_only_tests.runpytest_subprocess(THREE_METHODS, "-v", "-s", "-k", "inner or (test_pool and not fixture)")
    result.stdout.fnmatch_lines(["*test_inner?fork? METHOD fork*", "*test_inner?spawn? METHOD spawn*",
                                 "*test_inner?forkserver? METHOD forkserver*"])
    result.assert_outcomes(passed=3 + 1)  # test_pool is outside sub/: once


def test_empty_start_methods_and_a_bad_timeout_are_usage_errors(pytester, monkeypatch):
    monkeypatch.delenv("RACECOURSE_START_METHOD", raising=False)
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    for argv, words in [(["--start-methods="], "racecourse: --start-methods is empty: give some of fork*"),
                        (["--start-methods= , "], "racecourse: --start-methods is empty*"),
                        (["--racecourse-timeout=-1"], "racecourse: --racecourse-timeout must be a number of "
                                                      "seconds, not '-1' (0: no limit)"),
                        (["--racecourse-timeout=nan"], "*--racecourse-timeout must be a number of seconds*"),
                        (["-o", "racecourse_timeout=-5"], "*racecourse_timeout must be a number of seconds, not '-5'*"),
                        (["-o", "racecourse_each_start_method=true tests"], "*true, false, or path patterns*")]:
        result = pytester.runpytest(*argv)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, argv
        result.stderr.fnmatch_lines([f"ERROR: {words}"])
        assert "Traceback" not in result.stderr.str()


SEEDED = textwrap.dedent('''
    from racecourse import Expect, Scenario

    def build(share):
        return {"hits": share.Value("i", 0, lock=False), "lock": share.Lock()}

    def worker(hits, lock, ops):
        for _ in range(ops):
            LOCKING
                hits.value += 1

    COUNTER = Scenario(id="seeded-counter", title="t", expect=Expect.SAFE, build=build, worker=worker,
                       observe=lambda hits: hits.value)

    def test_counter(racecourse):
        racecourse.check_explore(COUNTER, processes=2, ops=1)
''')


def test_failing_schedules_are_kept_and_replayed_first_until_fixed(pytester):
    """check_explore keeps its failing schedules in pytest's cache; the next run replays
    them before exploring, and a run that passes (the bug fixed) drops them."""
    options = ("-p", "cacheprovider", "--start-methods=spawn")
    pytester.makepyfile(test_seeded=SEEDED.replace("LOCKING", "if True:"))
    first = pytester.runpytest_subprocess(*options)
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines(["*seeded-counter (spawn, 2 processes x 1 op, exhaustive exploration)*"])
    assert "saved by an earlier run" not in first.stdout.str()
    seeds = pytester.path.joinpath(".pytest_cache", "v", "racecourse", "failing-schedules")
    (kept,) = list(seeds.iterdir())
    assert '"schedule": "2x1:0110"' in kept.read_text()

    second = pytester.runpytest_subprocess(*options)
    second.assert_outcomes(failed=1)
    second.stdout.fnmatch_lines(["*a failing schedule saved by an earlier run (pytest's cache) fails again: "
                                 "2x1:0110 under spawn: count=1 (expected 2, 1 lost)*"])

    pytester.makepyfile(test_seeded=SEEDED.replace("LOCKING", "with lock:"))  # the fix
    fixed = pytester.runpytest_subprocess(*options)
    fixed.assert_outcomes(passed=1)
    assert '"seeds": []' in kept.read_text()  # nothing left to replay


SPLIT = textwrap.dedent('''
    import multiprocessing

    from racecourse import Expect, Scenario

    LOCK = multiprocessing.Lock()  # made at import: every child under spawn makes its own

    def build(share):
        return {"hits": share.Value("i", 0, lock=False)}

    def worker(hits, ops):
        for _ in range(ops):
            with LOCK:
                hits.value += 1

    COUNTER = Scenario(id="module-locked-counter", title="t", expect=Expect.SAFE, build=build, worker=worker,
                       observe=lambda hits: hits.value)

    FACTOR = None

    def scale(x):
        return x * FACTOR

    def test_counter(racecourse):
        racecourse.check_explore(COUNTER, processes=2, ops=1)

    def test_pool(start_method):
        global FACTOR
        FACTOR = 3
        with multiprocessing.Pool(2) as pool:
            assert pool.map(scale, range(3)) == [0, 3, 6]
''')


@pytest.mark.skipif("fork" not in available_start_methods(), reason="the split is fork against spawn")
def test_a_test_that_passes_under_one_method_and_fails_under_another_is_explained(pytester):
    pytester.makepyfile(test_split=SPLIT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--start-methods=fork,spawn")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "*= racecourse: the start method decides =*",
        "test_split.py::test_counter[[]*[]]: passes under fork, fails under spawn",
        "  LOCK (module global, Lock): one object shared by every process under fork; under spawn it was "
        "re-created when the child imported test_split*",
        "test_split.py::test_pool[[]*[]]: passes under fork, fails under spawn",
        "  under fork a child starts as a copy of the test process*",
    ])
