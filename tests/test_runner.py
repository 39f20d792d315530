"""The stress runner's failure paths: a worker that raises, dies or hangs, and cleanup."""

from __future__ import annotations

import multiprocessing
import signal
import textwrap
import time

import pytest

from racecourse import catalogue, stress_runner, workers
from support import announce_then_sleep, meet

FAULTY = textwrap.dedent('''
    """faulty: workers that go wrong in the ways a user's code does."""
    import os, signal, time
    from racecourse import Defaults, Expect, Scenario

    def build(share):
        return {"counter": share.Value("i", 0), "block": share.shared_memory(16),
                "hits": share.manager().dict()}

    def observe(counter):
        return counter.value

    def raises(counter, index):
        if index == 1:
            raise ValueError("worker one gives up")

    def dies(counter, index):
        if index == 0:
            os.kill(os.getpid(), signal.SIGKILL)

    def hangs(counter, index):
        time.sleep(60)

    RAISES = Scenario(id="raises", title="t", expect=Expect.SAFE, build=build, worker=raises,
                      observe=observe, expected=lambda p, k: 0)
    DIES = Scenario(id="dies", title="t", expect=Expect.SAFE, build=build, worker=dies,
                    observe=observe, expected=lambda p, k: 0)
    HANGS = Scenario(id="hangs", title="t", expect=Expect.SAFE, build=build, worker=hangs,
                     observe=observe, expected=lambda p, k: 0, defaults=Defaults(timeout=1.5))
''')


@pytest.fixture
def faulty(tmp_path):
    path = tmp_path / "faulty_workers.py"
    path.write_text(FAULTY)
    return lambda name: catalogue.resolve_one(f"{path}:{name}")


def test_worker_exception_carries_the_childs_traceback(faulty, start_method, nothing_left_behind):
    result = stress_runner.run(faulty("RAISES"), processes=3, trials=3, start_method=start_method)
    assert len(result.trials) == 1  # the run stops at the first failure
    (failure,) = result.failures
    assert failure.kind == "exception" and failure.process == 1
    assert failure.exception_type == "ValueError"
    assert "worker one gives up" in failure.traceback and "def raises" not in failure.message
    assert 'raise ValueError("worker one gives up")' in failure.traceback
    assert result.exit_status == 3


def test_killed_worker_is_reported_by_signal(faulty, start_method, nothing_left_behind):
    result = stress_runner.run(faulty("DIES"), processes=2, start_method=start_method)
    (failure,) = result.failures
    assert (failure.kind, failure.process, failure.message) == ("signal", 0, "killed by SIGKILL")
    assert result.exit_status == 3


def test_hanging_workers_hit_the_timeout(faulty, start_method, nothing_left_behind):
    result = stress_runner.run(faulty("HANGS"), processes=2, start_method=start_method)
    (failure,) = result.failures
    # The 1.5 s count from the start line, so however long the workers took to start (a
    # spawn child importing on a loaded machine), both were released and both are asleep.
    assert (failure.kind, failure.who, failure.process) == ("timeout", "workers 0, 1", 0)  # not "the parent"
    assert failure.message.startswith("timed out after 1.5 s: worker(s) 0, 1 still running, at ")
    assert failure.message.endswith(", in hangs: time.sleep(60)")  # where the first one was
    assert failure.traceback.count("was at (most recent call last):") == 2 and "time.sleep(60)" in failure.traceback
    assert result.exit_status == 3


def test_workers_that_never_start_are_not_a_deadlock(start_method, monkeypatch, nothing_left_behind):
    """A trial whose workers never reached the start line has shown nothing: for the
    deadlock scenario that is a run that did not complete, not the deadlock it declares."""
    for module in (stress_runner, workers):  # the start deadline, and the limit the timeout names
        monkeypatch.setattr(module, "startup_allowance", lambda timeout: 0.0)  # no time to start
    # A worker still starting has no SIGUSR1 handler yet: asking it for its stack would kill it.
    monkeypatch.setattr(stress_runner._Workers, "stacks", lambda self, stuck: pytest.fail("asked a starting worker"))
    result = stress_runner.run(catalogue.resolve_one("deadlock"), trials=1, start_method=start_method)
    (failure,) = result.failures
    assert (failure.kind, failure.who) == ("timeout", "workers 0, 1")
    assert failure.message.startswith("timed out after 0 s: worker(s) 0, 1 never reached the start line")
    assert not result.trials[0].ok and result.trials[0].violation is None
    assert result.exit_status == 3


def test_deadlock_scenario_times_out_as_declared(start_method, nothing_left_behind):
    result = stress_runner.run(catalogue.resolve_one("deadlock"), trials=1, start_method=start_method)
    assert result.failures == []
    assert result.exit_status == 0
    assert result.trials[0].ok


def test_until_raced_ends_a_run_at_its_first_trial_that_races(start_method, nothing_left_behind):
    racy = stress_runner.run(catalogue.resolve_one("raw-value"), ops=20_000, trials=4, start_method=start_method,
                             until_raced=True)
    raced = [trial.raced for trial in racy.trials]
    # Whichever trial raced first is the last one run; a run where none raced runs all four.
    assert raced == [False] * (len(raced) - 1) + [True] or raced == [False] * 4
    safe = stress_runner.run(catalogue.resolve_one("locked-value"), ops=200, trials=3, start_method=start_method,
                             until_raced=True)
    assert [trial.raced for trial in safe.trials] == [False] * 3


def test_successful_runs_leave_nothing_behind(start_method, nothing_left_behind):
    for scenario_id in ["shared-memory", "manager-dict-locked", "pool-map", "module-lock"]:
        result = stress_runner.run(catalogue.resolve_one(scenario_id), trials=1, start_method=start_method)
        assert result.failures == []


SPAN = textwrap.dedent('''
    """span: each worker notes, by the machine's monotonic clock, when its work began and ended."""
    import time
    from racecourse import Expect, Scenario

    NOTED = []  # what check() was shown, in the parent

    def build(share, processes):
        return {"times": share.Array("d", 2 * processes, lock=False)}

    def note(times, index):
        times[2 * index] = time.monotonic()
        time.sleep(0.05)
        times[2 * index + 1] = time.monotonic()

    def keep(times):
        NOTED.append(list(times))

    SPAN = Scenario(id="span", title="t", expect=Expect.SAFE, build=build, worker=note, check=keep)
''')


def test_a_trials_seconds_run_from_the_first_worker_past_the_start_line(start_method, tmp_path, monkeypatch,
                                                                         nothing_left_behind):
    """A trial's seconds cover all of its workers' work, and not the time the parent took to
    release them: the span runs from the first worker past the start line (its own clock) to
    the last "done" heard. Both bounds follow from the order of events on one clock (a
    worker passes the start line before its work and after the release; the parent hears
    its "done" after its work and before run_trial returns), so the test cannot fail by
    chance; it fails if the span starts before the release, as it once did."""
    path = tmp_path / "span_workers.py"
    path.write_text(SPAN)
    scenario = catalogue.resolve_one(f"{path}:SPAN")
    released = []

    class SlowToRelease(stress_runner._Workers):
        """A parent that takes half a second to open the start line after deciding to."""

        def __init__(self, *args):
            super().__init__(*args)
            release = self.start_line.release  # the child gets its own methods, not these

            def late_release():
                if not released:
                    time.sleep(0.5)
                    released.append(time.monotonic())
                release()

            self.start_line.release = late_release

    monkeypatch.setattr(stress_runner, "_Workers", SlowToRelease)
    trial = stress_runner.run_trial(scenario, start_method, 2, 1, 30.0)
    returned = time.monotonic()
    assert trial.ok and trial.failure is None
    (times,) = scenario.check.__globals__["NOTED"]
    work = max(times[1::2]) - min(times[0::2])
    assert work >= 0.05
    assert work <= trial.seconds <= returned - released[0]


def test_close_lets_idle_children_finish_and_terminates_busy_ones(start_method, tmp_path, nothing_left_behind):
    # Children that finish on their own end like any finished process (exit status 0, and
    # coverage keeps what they ran); only a Pool with a task still running is terminated.
    # One Pool per Share, started last: under fork, a process whose Pool threads run
    # must not fork again.
    from racecourse.scenarios._pages import start_site
    from racecourse.sharing import Share

    with Share(start_method) as share:
        start_site(share, 2)
        idle = share.Pool(2)
        meeting = tmp_path / "meeting"
        meeting.mkdir()
        # Each worker takes one task, so both are up (not still starting) when it goes idle.
        assert idle.starmap(meet, [(str(meeting), 2, 0), (str(meeting), 2, 1)], chunksize=1) == [0, 1]
        finishing = multiprocessing.active_children()
    assert sorted("pool worker" if "PoolWorker" in p.name else p.name for p in finishing) == [
        "pool worker", "pool worker", "racecourse-pages"]
    assert [p.exitcode for p in finishing] == [0, 0, 0]

    started = tmp_path / "started"
    with Share(start_method) as share:
        busy = share.Pool(1)
        busy.apply_async(announce_then_sleep, (str(started), 60))
        while not started.exists():  # a task still queued would be dropped, not run
            time.sleep(0.01)
        stopped = multiprocessing.active_children()
    assert [p.exitcode for p in stopped] == [-signal.SIGTERM]
