"""Faults end cleanly: the command line reports which process and what happened, exits with a
status that is neither 0 nor 2, and leaves nothing behind.

Each test runs ``racecourse run`` as a separate command in a session of its own (as a shell
would), on a scenario file of faults/ that goes wrong on purpose: a worker killed with
SIGKILL from outside, a worker that raises, the Manager server killed, Ctrl-C, a deadlock.
Afterwards no process of that session may be alive, and /dev/shm holds nothing new that no
process maps. Every fault is made deterministic: the test waits for a file the scenario
writes once it is in the state to be hit, and the deadlock is forced by a barrier.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from faults.fault_marks import MARKERS_VARIABLE, WAIT_SECONDS

from support import leaked_shm_entries, leftover_processes, shm_entries, start_methods

METHODS = start_methods()

# The scenario files, one per fault (they mark files through faults/fault_marks.py).
FAULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faults")


class Run:
    """``python -m racecourse ARGS`` in a session of its own, its output collected."""

    def __init__(self, directory, *args):
        self.directory = directory
        self.process = subprocess.Popen(
            [sys.executable, "-m", "racecourse", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=directory,
            env={**os.environ, MARKERS_VARIABLE: str(directory)},
            start_new_session=True,
        )
        self.stdout = self.stderr = ""

    def wait_for(self, name):
        """The content of the marker file ``name``, once the scenario has written it."""
        path = self.directory / name
        deadline = time.monotonic() + WAIT_SECONDS
        while not path.exists():
            if self.process.poll() is not None:
                self.finish()
                pytest.fail(f"the run ended before writing {name}: {self.process.returncode}\n{self.stderr}")
            assert time.monotonic() < deadline, f"{name} never appeared"
            time.sleep(0.05)
        return path.read_text()

    def wait_until(self, condition, what):
        deadline = time.monotonic() + WAIT_SECONDS
        while not condition():
            assert self.process.poll() is None, f"the run ended before {what}: {self.process.returncode}"
            assert time.monotonic() < deadline, f"never {what}"
            time.sleep(0.05)

    def finish(self):
        self.stdout, self.stderr = self.process.communicate(timeout=WAIT_SECONDS + 30)
        return self.process.returncode

    def kill_everything(self):
        """Test teardown when something went wrong: nothing of ours outlives the test.

        multiprocessing's resource tracker is spared at first: once every other process of
        the run is gone it removes the shared memory and semaphores they left, and exits.
        Killed with them, it would leave those in /dev/shm for good."""
        leftovers = leftover_processes(self.process.pid, settle_seconds=0)
        trackers = [pid for pid in leftovers if _is_resource_tracker(pid)]
        for pid in leftovers:
            if pid not in trackers:
                _kill(pid)
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()  # also closes the pipes of a run the test never finished
        deadline = time.monotonic() + WAIT_SECONDS
        while any(os.path.exists(f"/proc/{pid}") for pid in trackers) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in trackers:
            _kill(pid)


def _is_resource_tracker(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"multiprocessing.resource_tracker" in cmdline.read()
    except OSError:
        return False


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def racecourse(tmp_path):
    """Start runs of the fault scenarios; afterwards, prove nothing was left behind."""
    before = shm_entries()
    runs = []

    def start(scenario, *options, command="run"):
        run = Run(tmp_path, command, os.path.join(FAULTS, f"{scenario}.py"), *options)
        runs.append(run)
        return run

    yield start
    try:
        for run in runs:
            assert run.process.poll() is not None, "the run is still going"
            assert leftover_processes(run.process.pid) == [], "processes outlived the run"
        assert leaked_shm_entries(before) == set()
    finally:
        for run in runs:
            run.kill_everything()


def one_report(run, status, *phrases):
    """The run ended with ``status`` and said each phrase, in one report, with no stray output."""
    assert run.finish() == status, run.stderr
    assert status not in (0, 2)
    for phrase in phrases:
        assert phrase in run.stderr + run.stdout, run.stderr
    assert "Exception ignored" not in run.stderr


@pytest.mark.parametrize("method", METHODS)
def test_worker_killed_with_sigkill(racecourse, method):
    run = racecourse("killed_worker", "-m", method)
    pid = int(run.wait_for("worker.pid"))
    os.kill(pid, signal.SIGKILL)
    one_report(run, 3, "did not complete: worker 0: killed by SIGKILL", "FAILED")


@pytest.mark.parametrize("method", METHODS)
def test_pool_worker_killed_with_sigkill_is_named_as_the_cause(racecourse, method):
    run = racecourse("killed_pool_worker", "-m", method)
    pid = int(run.wait_for("task.pid"))
    os.kill(pid, signal.SIGKILL)
    one_report(run, 3, f"(pid {pid}): killed by SIGKILL while the program ran (a Pool drops the task of a worker "
               "that dies, so the program would have waited for it forever)", "the Pool worker ", "FAILED")


@pytest.mark.parametrize("method", METHODS)
def test_worker_that_raises_shows_the_childs_traceback(racecourse, method):
    run = racecourse("raising_worker", "-m", method)
    one_report(
        run, 3,
        "worker 1: ValueError: worker one gives up halfway",
        "Traceback (most recent call last)",
        'raise ValueError("worker one gives up halfway")',  # the child's own line
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario, who", [("killed_manager", "the Manager server"),
                                           ("killed_remote", "the remote Manager server")])
def test_manager_server_killed_mid_run(racecourse, method, scenario, who):
    run = racecourse(scenario, "-m", method)
    server = int(run.wait_for("server.pid"))
    run.wait_for("running")
    os.kill(server, signal.SIGKILL)
    one_report(run, 3, f"{who} (pid {server}): killed by SIGKILL; worker")


STOPS = {
    # Ctrl-C: a terminal sends SIGINT to the whole foreground process group.
    "ctrl-c": (lambda pid: os.killpg(pid, signal.SIGINT), 130, "interrupted"),
    # SIGTERM to racecourse alone (a cancelled CI job, `timeout`): its workers must not
    # outlive it.
    "sigterm": (lambda pid: os.kill(pid, signal.SIGTERM), 143, "terminated (SIGTERM)"),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario", ["interrupted_workers", "interrupted_pool"])
@pytest.mark.parametrize("stop", list(STOPS))
def test_ctrl_c_and_sigterm_stop_everything(racecourse, method, scenario, stop):
    send, status, how = STOPS[stop]
    run = racecourse(scenario, "-m", method)
    run.wait_for("running")
    if scenario == "interrupted_pool":
        # Stop it once all 3 Pool workers are downloading (each task downloads forever):
        # PyPy starts its Ctrl-C handler even in a child started with Ctrl-C ignored, so
        # a worker still starting up would print a KeyboardInterrupt of its own there.
        run.wait_until(lambda: len(list(run.directory.glob("fetching-*"))) == 3, "all 3 workers downloading")
    send(run.process.pid)
    assert run.finish() == status, run.stderr
    assert run.stderr.strip() == f"racecourse: {how}; every process it started has been stopped"
    if scenario == "interrupted_pool":
        assert not os.path.exists(run.wait_for("pages.dir")), "the page list was left behind"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stop", list(STOPS))
def test_ctrl_c_and_sigterm_stop_an_exploration(racecourse, method, stop):
    send, status, how = STOPS[stop]
    # --quiet: a pipe gets progress lines after 5 s, which a loaded machine may reach.
    run = racecourse("explored_at_length", "-m", method, "-p", "3", "-k", "3", "--budget", "10000000", "--quiet",
                     command="explore")
    run.wait_for("running")
    time.sleep(0.5)  # well inside the exploration, which has millions of schedules to go
    send(run.process.pid)
    assert run.finish() == status, run.stderr
    assert run.stderr.strip() == f"racecourse: {how}; every process it started has been stopped"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario, command", [("interrupted_workers", "run"), ("explored_at_length", "explore")])
def test_a_parent_killed_with_sigkill_takes_its_children_with_it(racecourse, method, scenario, command):
    """SIGKILL (a CI job's timeout, the OOM killer) gives racecourse no chance to clean up:
    its workers and Manager server must end by themselves. The fixture then finds no process
    of the run's session alive and nothing of it left in /dev/shm."""
    # An exploration with millions of schedules to go: it is still running when killed.
    options = ["-p", "3", "-k", "3", "--budget", "10000000", "--quiet"] if command == "explore" else []
    run = racecourse(scenario, "-m", method, *options, command=command)
    run.wait_for("running")
    os.kill(run.process.pid, signal.SIGKILL)
    assert run.finish() == -signal.SIGKILL


def test_ctrl_c_during_a_run_of_several_scenarios_prints_those_finished_first(racecourse):
    run = racecourse("finished_then_interrupted", "-m", METHODS[0], "--quiet")
    run.wait_for("running")
    os.killpg(run.process.pid, signal.SIGINT)
    assert run.finish() == 130, run.stderr
    assert run.stderr.strip() == "racecourse: interrupted; every process it started has been stopped"
    # The table of the finished scenario (its verdict wrapped or not, as $COLUMNS says), and
    # no row for the one interrupted before it completed a trial.
    table = " ".join(run.stdout.split())
    assert table.startswith("scenario method expect") and "finished" in table and "interrupted" not in table
    assert "ok exact: 20 of 20 updates" in table.replace("verdict: ", "")


@pytest.mark.parametrize("method", METHODS)
def test_natural_deadlock_hits_the_timeout(racecourse, method):
    run = racecourse("deadlocked", "-m", method, "--timeout", "1.5")
    one_report(run, 3, "timed out after 1.5 s: worker(s) 0, 1 still running")


def test_an_interrupt_that_breaks_multiprocessing_locking_still_stops_the_run():
    """Ctrl-C landing inside the barrier's condition variable surfaces as an AssertionError
    ("release recursive lock not owned") raised while handling the KeyboardInterrupt; the
    run must stop as interrupted, not report a failed trial."""
    from racecourse import catalogue, stress_runner

    with pytest.raises(KeyboardInterrupt):
        stress_runner.run(catalogue.resolve_one(os.path.join(FAULTS, "broken_by_interrupt.py")), trials=1)
