"""Faults end cleanly: the command line reports which process and what happened, exits with a
status that is neither 0 nor 2, and leaves nothing behind.

Each test runs ``racecourse run`` as a separate command in a session of its own (as a shell
would), on a scenario file written here that goes wrong on purpose: a worker killed with
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
import textwrap
import time

import pytest

from support import leaked_shm_entries, leftover_processes, shm_entries, start_methods

METHODS = start_methods()
WAIT_SECONDS = 60.0
# The killed-Pool-worker run ends when racecourse notices the killed worker, not at its
# timeout: this one only bounds a run that failed to notice (the test then fails on the
# timeout's message instead of the killed worker's).
POOL_TIMEOUT = WAIT_SECONDS

# Helpers for the scenario files: a marker file next to the scenario says "hit me now".
PRELUDE = '''
import multiprocessing, os, threading, time
from racecourse import Defaults, Expect, Scenario

HERE = os.path.dirname(os.path.abspath(__file__))


def mark(name, text):
    path = os.path.join(HERE, name)
    partial = f"{path}.{os.getpid()}.tmp"  # one per process: several may mark at once
    with open(partial, "w") as file:
        file.write(str(text))
    os.replace(partial, path)  # the test never reads half a file


def observe(counter):
    return counter.value
'''

SCENARIOS = {
    # Explored with a budget it never reaches: each schedule runs the worker in the
    # controlled processes, which say once that they are being explored.
    "explored_at_length": '''
def build(share):
    return {"counter": share.Value("i", 0, lock=False)}

def worker(counter, ops):
    if not os.path.exists(os.path.join(HERE, "running")):
        mark("running", 1)
    for _ in range(ops):
        counter.value += 1

SCENARIO = Scenario(id="explored-at-length", title="t", expect=Expect.RACY, build=build, worker=worker,
                    observe=observe)
''',
    # Worker 0 says where it is, then works until the test kills it.
    "killed_worker": '''
def build(share):
    return {"counter": share.Value("i", 0), "hits": share.manager().dict(), "block": share.shared_memory(64)}

def worker(counter, hits, index, ops):
    if index == 0:
        mark("worker.pid", os.getpid())
        while True:
            with counter.get_lock():
                counter.value += 1
    for _ in range(ops):
        with counter.get_lock():
            counter.value += 1

SCENARIO = Scenario(id="killed-worker", title="t", expect=Expect.SAFE, build=build, worker=worker,
                    observe=observe, defaults=Defaults(processes=3, ops=100, trials=1, timeout=WAIT))
''',
    "raising_worker": '''
def build(share):
    return {"counter": share.Value("i", 0), "hits": share.manager().dict(), "block": share.shared_memory(64)}

def worker(counter, index, ops):
    for n in range(ops):
        with counter.get_lock():
            counter.value += 1
        if index == 1 and n == ops // 2:
            raise ValueError("worker one gives up halfway")

SCENARIO = Scenario(id="raising-worker", title="t", expect=Expect.SAFE, build=build, worker=worker,
                    observe=observe, defaults=Defaults(processes=3, ops=1000, trials=2, timeout=WAIT))
''',
    # The Manager server's pid is the only child when build starts it.
    "killed_manager": '''
def build(share):
    hits = share.manager().dict()
    hits["n"] = 0
    (server,) = multiprocessing.active_children()
    mark("server.pid", server.pid)
    return {"hits": hits, "counter": share.Value("i", 0)}

def worker(hits, index):
    if index == 0:
        mark("running", 1)
    while True:
        hits["n"] += 1

SCENARIO = Scenario(id="killed-manager", title="t", expect=Expect.RACY, build=build, worker=worker,
                    observe=observe, defaults=Defaults(processes=2, trials=1, timeout=WAIT))
''',
    # The same with the remote manager's own server.
    "killed_remote": '''
from racecourse.scenarios.remote_manager import build as remote_build, observe as remote_observe
from racecourse.remote import RemoteManager

def build(share):
    shared = remote_build(share)
    (server,) = multiprocessing.active_children()
    mark("server.pid", server.pid)
    return shared

def worker(address, authkey, name, index):
    manager = RemoteManager(address=address, authkey=authkey)
    manager.connect()
    counter = manager.counter(name)
    if index == 0:
        mark("running", 1)
    while True:
        counter.value += 1

SCENARIO = Scenario(id="killed-remote", title="t", expect=Expect.RACY, build=build, worker=worker,
                    observe=remote_observe, defaults=Defaults(processes=2, trials=1, timeout=WAIT))
''',
    # Workers that run until Ctrl-C, with every kind of shared state a run can hold.
    "interrupted_workers": '''
def build(share):
    return {"counter": share.Value("i", 0), "hits": share.manager().dict(), "block": share.shared_memory(64),
            "lock": share.Lock()}

def worker(counter, hits, lock, index):
    if index == 0:
        mark("running", 1)
    while True:
        with lock:
            counter.value += 1

SCENARIO = Scenario(id="interrupted-workers", title="t", expect=Expect.SAFE, build=build, worker=worker,
                    observe=observe, defaults=Defaults(processes=3, trials=1, timeout=WAIT))
''',
    # A scenario that finishes, then one that runs until Ctrl-C: run prints the first.
    "finished_then_interrupted": '''
from racecourse.scenarios.locked_value import build as build_locked, worker as quick_worker

def build(share):
    return {"counter": share.Value("i", 0)}

def worker(counter, index):
    if index == 0:
        mark("running", 1)
    while True:
        counter.value += 1

FINISHED = Scenario(id="finished", title="t", expect=Expect.SAFE, build=build_locked, worker=quick_worker,
                    observe=observe, defaults=Defaults(ops=10, trials=1))
INTERRUPTED = Scenario(id="interrupted", title="t", expect=Expect.RACY, build=build, worker=worker,
                       observe=observe, defaults=Defaults(trials=1, timeout=WAIT))
''',
    # A Pool whose first task says where it runs, then waits for the test to kill its
    # worker. The Pool replaces the worker but drops the task: map waits until the timeout
    # (long enough for the Pool to start on a loaded machine before the task marks).
    "killed_pool_worker": '''
def task(number):
    if number == 0:
        mark("task.pid", os.getpid())
        time.sleep(3600)
    return number

def build(share):
    return {"counter": share.Value("i", 0)}

def program(share, counter):
    with share.Pool(2) as pool:
        counter.value = sum(pool.map(task, range(2), chunksize=1))

SCENARIO = Scenario(id="killed-pool-worker", title="t", expect=Expect.SAFE, build=build, program=program,
                    observe=observe, expected=lambda p, k: 1, defaults=Defaults(trials=1, timeout=POOL_TIMEOUT))
''',
    # A Pool downloading from the local page server, interrupted mid-download.
    "interrupted_pool": '''
from racecourse.scenarios._pages import download, start_site

def fetch(url):
    mark(f"fetching-{os.getpid()}", url)
    mark("running", 1)
    while True:
        for chunk in download(url):
            pass

def build(share):
    site = start_site(share, pages=4)
    mark("pages.dir", os.path.dirname(site.list_file))
    return {"site": site, "counter": share.Value("i", 0)}

def program(share, site):
    with open(site.list_file) as listing:
        urls = listing.read().split()
    with share.Pool(3) as pool:
        pool.map(fetch, urls)

SCENARIO = Scenario(id="interrupted-pool", title="t", expect=Expect.SAFE, build=build, program=program,
                    observe=observe, defaults=Defaults(processes=3, trials=1, timeout=WAIT))
''',
    # Two locks in opposite orders, and a barrier between the first and the second, so that
    # both workers hold one lock and wait for the other every time: natural scheduling,
    # certain deadlock.
    "deadlocked": '''
def build(share):
    return {"alice": share.Value("i", 0), "bob": share.Value("i", 0), "between": share.context.Barrier(2)}

def worker(alice, bob, between, index):
    first, second = (alice, bob) if index == 0 else (bob, alice)
    with first.get_lock():
        between.wait()
        with second.get_lock():
            first.value += 1

def observe(alice):
    return alice.value

SCENARIO = Scenario(id="deadlocked", title="t", expect=Expect.SAFE, build=build, worker=worker,
                    observe=observe, expected=lambda p, k: 1, defaults=Defaults(processes=2, trials=1))
''',
}


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
        """Test teardown when something went wrong: nothing of ours outlives the test."""
        for pid in leftover_processes(self.process.pid, settle_seconds=0):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def racecourse(tmp_path):
    """Start runs of the fault scenarios; afterwards, prove nothing was left behind."""
    before = shm_entries()
    runs = []

    def start(scenario, *options, command="run"):
        path = tmp_path / f"{scenario}.py"
        body = SCENARIOS[scenario].replace("WAIT", repr(WAIT_SECONDS)).replace("POOL_TIMEOUT", repr(POOL_TIMEOUT))
        path.write_text(textwrap.dedent(PRELUDE) + textwrap.dedent(body))
        run = Run(tmp_path, command, str(path), *options)
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


def test_an_interrupt_that_breaks_multiprocessing_locking_still_stops_the_run(tmp_path):
    """Ctrl-C landing inside the barrier's condition variable surfaces as an AssertionError
    ("release recursive lock not owned") raised while handling the KeyboardInterrupt; the
    run must stop as interrupted, not report a failed trial."""
    from racecourse import catalogue, stress_runner

    path = tmp_path / "broken_by_interrupt.py"
    path.write_text(textwrap.dedent(PRELUDE) + textwrap.dedent('''
        def build(share):
            counter = share.Value("i", 0)
            try:
                raise KeyboardInterrupt  # as the signal handler raises it
            except KeyboardInterrupt:
                raise AssertionError("attempt to release recursive lock not owned by thread")

        def worker(counter):
            pass

        SCENARIO = Scenario(id="broken-by-interrupt", title="t", expect=Expect.SAFE, build=build,
                            worker=worker, observe=observe)
    '''))
    with pytest.raises(KeyboardInterrupt):
        stress_runner.run(catalogue.resolve_one(str(path)), trials=1)
