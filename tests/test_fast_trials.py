"""Fast trials: histograms that add up, safe scenarios exact, every failure path clean."""

from __future__ import annotations

import json
import multiprocessing
import pathlib
import textwrap

import pytest

from racecourse import catalogue, fast_trials, stress_runner
from racecourse.sharing import Share
from support import nothing_left_behind, run_cli, start_methods  # noqa: F401 (a fixture)

KNOWN = catalogue.builtin_by_id()
HERE = pathlib.Path(__file__).parent
# Every test here, command line included, leaves no process and no shared memory behind.
pytestmark = pytest.mark.usefixtures("nothing_left_behind")

SAFE_RESETTABLE = ["locked-value", "lock-value", "locked-array", "own-slot-array", "shared-memory-locked"]


@pytest.mark.parametrize("scenario_id", SAFE_RESETTABLE)
def test_safe_scenarios_histogram_holds_only_the_exact_count(scenario_id, start_method):
    result = fast_trials.run(KNOWN[scenario_id], trials=300, processes=2, ops=3, start_method=start_method)
    assert result.failure is None
    assert result.expected == KNOWN[scenario_id].expected(2, 3)
    assert result.counts == {result.expected: 300}
    assert result.exit_status == 0 and "exact in 300 of 300 trials" in result.verdict()


def test_racy_two_by_one_outcomes_are_one_or_two_and_sum_to_the_trials(start_method):
    result = fast_trials.run(KNOWN["raw-value"], trials=2000, processes=2, ops=1, start_method=start_method)
    assert result.failure is None
    assert set(result.counts) <= {1, 2}
    assert sum(result.counts.values()) == result.trial_count == 2000
    rows = result.histogram()
    assert [r.count for r in rows] == sorted((r.count for r in rows), reverse=True)
    assert all(r.lost == 2 - r.outcome for r in rows)
    assert result.exit_status == 0  # racy: any outcome is within the declaration


def test_array_and_shared_memory_states_are_reset_between_trials():
    # Without a reset, the counts would climb trial after trial, far beyond these bounds.
    arrays = fast_trials.run(KNOWN["raw-array"], trials=500, processes=2, ops=1)
    assert set(arrays.counts) <= set(range(4, 9)) and arrays.trial_count == 500
    block = fast_trials.run(KNOWN["shared-memory"], trials=500, processes=2, ops=2)
    assert set(block.counts) <= {2, 3, 4} and block.trial_count == 500


def test_invariant_scenario_histogram_is_held_or_what_broke():
    result = fast_trials.run(KNOWN["check-then-act"], trials=500, processes=2, ops=1)
    assert result.trial_count == 500
    assert all(o == "held" or str(o).startswith("overdrawn:") for o in result.counts)


def test_global_counter_is_observed_in_the_parent():
    # The workers' own COUNT climbs with every trial; the parent's stays 0, as in the stress runner.
    result = fast_trials.run(KNOWN["global-counter"], trials=200, processes=2, ops=5)
    assert result.counts == {0: 200} and result.ok


def test_shared_state_restores_every_kind_it_accepts():
    with Share() as share:
        shared = {
            "value": share.Value("i", 7, lock=False),
            "locked": share.Value("d", 1.5),
            "array": share.Array("i", [1, 2, 3]),
            "block": share.shared_memory(8),
            "lock": share.Lock(),
            "label": "plain",
        }
        state = fast_trials.SharedState(shared)
        shared["value"].value = 99
        shared["locked"].value = -2.0
        shared["array"][1] = 50
        shared["block"].buf[3] = 200
        changed = state.capture()
        state.restore(state.initial)
        assert (shared["value"].value, shared["locked"].value, list(shared["array"])) == (7, 1.5, [1, 2, 3])
        assert bytes(shared["block"].buf[:8]) == bytes(8)
        state.restore(changed)
        assert (shared["value"].value, shared["array"][1], shared["block"].buf[3]) == (99, 50, 200)
        del state


@pytest.mark.parametrize("scenario_id, reason", [
    ("manager-dict", "Manager"),
    ("manager-value", "Manager"),
    ("pool-map", "program scenario"),
    ("deadlock", "deadlock"),
    ("pool-arg-value", "program scenario"),
])
def test_unresettable_scenarios_are_refused_before_any_process_starts(scenario_id, reason):
    with pytest.raises(fast_trials.NotResettable, match=reason):
        fast_trials.run(KNOWN[scenario_id], trials=100, ops=1)
    assert multiprocessing.active_children() == []


def test_no_trials_is_refused():
    with pytest.raises(ValueError, match="at least one trial"):
        fast_trials.run(KNOWN["raw-value"], trials=0)


FAULTY = textwrap.dedent('''
    """faulty: workers that go wrong on their 50th trial, as a user's code might."""
    import os, signal, time
    from racecourse import Expect, Scenario

    def build(share):
        return {"counter": share.Value("i", 0), "block": share.shared_memory(16), "trials": share.Value("i", 0, lock=False)}

    def observe(counter):
        return counter.value

    def _fiftieth(trials, index):
        # Each worker counts its own trials in a variable of its process.
        global SEEN
        SEEN = globals().get("SEEN", 0) + 1
        return SEEN == 50 and index == 1

    def raises(counter, trials, index):
        if _fiftieth(trials, index):
            raise ValueError("worker one gives up")

    def dies(counter, trials, index):
        if _fiftieth(trials, index):
            os.kill(os.getpid(), signal.SIGKILL)

    def hangs(counter, trials, index):
        if _fiftieth(trials, index):
            time.sleep(60)

    RAISES = Scenario(id="raises", title="t", expect=Expect.SAFE, build=build, worker=raises, observe=observe,
                      expected=lambda p, k: 0)
    DIES = Scenario(id="dies", title="t", expect=Expect.SAFE, build=build, worker=dies, observe=observe,
                    expected=lambda p, k: 0)
    HANGS = Scenario(id="hangs", title="t", expect=Expect.SAFE, build=build, worker=hangs, observe=observe,
                     expected=lambda p, k: 0)
''')


@pytest.fixture
def faulty(tmp_path):
    path = tmp_path / "faulty_fast.py"
    path.write_text(FAULTY)
    return lambda name: catalogue.resolve_one(f"{path}:{name}")


def test_worker_exception_stops_the_run_with_the_childs_traceback(faulty, start_method):
    result = fast_trials.run(faulty("RAISES"), trials=1000, ops=1, start_method=start_method)
    assert result.failure is not None
    assert (result.failure.kind, result.failure.process, result.failure.exception_type) == ("exception", 1, "ValueError")
    assert 'raise ValueError("worker one gives up")' in result.failure.traceback
    assert result.completed == 49 and result.exit_status == 3
    assert "after 49 of 1,000 trials" in result.verdict()


def test_killed_worker_is_reported_by_signal(faulty, start_method):
    result = fast_trials.run(faulty("DIES"), trials=1000, ops=1, start_method=start_method)
    assert result.failure is not None
    assert (result.failure.kind, result.failure.process, result.failure.message) == ("signal", 1, "killed by SIGKILL")


def test_hanging_worker_hits_the_timeout(faulty):
    result = fast_trials.run(faulty("HANGS"), trials=1000, ops=1, timeout=2.0)
    assert result.failure is not None and result.failure.kind == "timeout"
    assert "trial 50 did not finish: worker(s) 1 still running, at " in result.failure.message
    assert result.failure.who == "worker 1" and "time.sleep(60)" in result.failure.traceback


def test_ctrl_c_in_the_parent_stops_every_worker():
    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        # Slow enough (2 x 2,000 ops a trial) that the parent sees progress before the end.
        fast_trials.run(KNOWN["locked-value"], trials=100_000, ops=2000, progress=interrupt)


# -- the command line ---------------------------------------------------------------------


def test_run_picks_fast_trials_for_many_small_trials_and_prints_the_histogram(capsys):
    status, out, _ = run_cli(capsys, "run", "raw-value", "--trials", "3000", "--ops", "1")
    assert status == 0
    assert "3,000 fast trials" in out and "final count" in out
    counts = {int(line.split()[0]): int(line.split()[1].replace(",", ""))
              for line in out.splitlines() if line[:1].isdigit()}
    assert set(counts) <= {1, 2} and sum(counts.values()) == 3000


def test_run_fast_json_shape(capsys):
    status, out, _ = run_cli(capsys, "run", "locked-value", "--trials", "400", "--ops", "2", "--json")
    data = json.loads(out)
    assert status == 0 and data["mode"] == "fast"
    assert {"scenario", "start_method", "processes", "ops", "expect", "python", "implementation",
            "expected", "trial_count", "histogram", "seconds", "trials_per_s", "verdict", "exit_status"} <= set(data)
    assert data["trial_count"] == 400 and data["expected"] == 4
    assert data["histogram"] == [{"outcome": 4, "count": 400, "percent": 100.0, "ok": True, "lost": 0}]


# The choice between fast trials and the stress runner is made from the sizes alone, so
# these tests lower the threshold to 3 trials instead of running 100 stress trials (each
# one starts its processes; under spawn that took 20-30 s). Each first shows that the
# same command, without what the test is about, would have picked fast trials.
@pytest.fixture
def fast_from_three_trials(monkeypatch):
    monkeypatch.setattr(fast_trials, "FAST_MIN_TRIALS", 3)


def test_no_fast_keeps_the_stress_runner(capsys, fast_from_three_trials):
    status, out, _ = run_cli(capsys, "run", "locked-value", "--trials", "3", "--ops", "1", "--json")
    assert status == 0 and json.loads(out)["mode"] == "fast"
    status, out, _ = run_cli(capsys, "run", "locked-value", "--trials", "3", "--ops", "1", "--no-fast", "--json")
    data = json.loads(out)
    assert status == 0 and data["mode"] == "stress" and len(data["trials"]) == 3


def test_unresettable_scenario_falls_back_to_the_stress_runner_by_itself(capsys, fast_from_three_trials, monkeypatch):
    assert fast_trials.eligible(KNOWN["manager-value"], trials=3, ops=1)  # chosen from the sizes...
    fast_runs = []
    real_run = fast_trials.run

    def counted(*args, **kwargs):
        fast_runs.append(args)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(fast_trials, "run", counted)
    status, out, _ = run_cli(capsys, "run", "manager-value", "--trials", "3", "--ops", "1", "--json")
    data = json.loads(out)
    assert len(fast_runs) == 1  # ...tried, found unresettable, and run by the stress runner instead
    assert data["mode"] == "stress" and len(data["trials"]) == 3


BAD_FAST = [
    (["run", "manager-dict", "--fast", "--trials", "100"], "manager-dict cannot run as fast trials: it shares Manager proxies"),
    (["run", "pool-map", "--fast"], "pool-map cannot run as fast trials: it is a program scenario"),
    (["run", "deadlock", "--fast"], "deadlock cannot run as fast trials"),
    (["run", "--all", "--fast"], "--fast takes one scenario"),
    (["run", "raw-value", "--fast", "--no-fast"], "not allowed with argument"),
]


@pytest.mark.parametrize("argv, message", BAD_FAST, ids=[" ".join(a) for a, _ in BAD_FAST])
def test_bad_fast_usage_is_one_line_exit_2_nothing_started(argv, message, capsys, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("bad input must be refused before any trial runs")

    monkeypatch.setattr(stress_runner, "run", must_not_run)
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "Traceback" not in err
    assert multiprocessing.active_children() == []


def test_a_semaphores_count_and_an_events_flag_are_put_back_between_trials(start_method):
    """Every trial releases the Semaphore processes x ops times and sets the Event: left as
    the last trial left them, the next trial would count from there and find the Event set."""
    scenario = catalogue.resolve_one(str(HERE / "fast_signals.py") + ":SIGNALS")
    result = fast_trials.run(scenario, trials=200, processes=2, ops=3, start_method=start_method)
    assert result.failure is None
    assert result.counts == {2 * 3 * 10 + 1: 200}
