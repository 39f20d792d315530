"""The hang guard (``--racecourse-timeout``), tested on pytest sessions run in subprocesses.

The hung test sleeps for ten minutes; the guard stops it after a few seconds. Whatever the
guard must clean up (a child process, a named semaphore) is made while the test file is
collected, before any test's clock starts, so the checks do not depend on how far the
test got when the limit struck. The one timing assumption: a test that has started is
inside its body (the ``time.sleep``) within the limit, 5 s, which on a loaded machine
still leaves it a thousand times what it needs.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from support import leaked_shm_entries, shm_entries

pytestmark = pytest.mark.start_method_independent

LIMIT = "5"

HUNG_SESSION = '''
import atexit, multiprocessing, os, subprocess, sys, time

# Made at collection, in each session process that collects this file (every xdist worker
# does): a child process, and a Lock whose named semaphore multiprocessing's resource
# tracker knows of. A session that ends normally stops its child; the killed one cannot.
SLEEPER = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
atexit.register(SLEEPER.kill)
LOCK = multiprocessing.get_context("spawn").Lock()
with open(f"made-{os.getpid()}.txt", "w") as made:
    made.write(f"{SLEEPER.pid} {LOCK._semlock.name}")

def test_before():
    pass

def test_sleeps_for_ten_minutes():
    time.sleep(600)

def test_after():
    pass
'''


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan may wait for a reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def watchdogs_of(pid: int) -> list:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                words = cmdline.read().split(b"\0")
        except OSError:
            continue
        if b"racecourse.plugin.hang_guard" in words and str(pid).encode() in words:
            found.append(int(entry))
    return found


def eventually(condition, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def hung(pytester):
    pytester.makepyfile(test_hung=HUNG_SESSION)
    before = shm_entries()
    yield pytester
    assert leaked_shm_entries(before) == set()  # /dev/shm is shared: only unmapped ones count


def assert_stopped_and_cleaned(result, directory):
    err = result.stderr.str()
    assert f"test_hung.py::test_sleeps_for_ten_minutes ran past its {LIMIT} s limit" in err
    assert "in test_sleeps_for_ten_minutes" in err  # its stack, printed by faulthandler
    (session,) = map(int, re.findall(r"killing the test process \(pid (\d+)\)", err))
    sleeper, semaphore = (directory / f"made-{session}.txt").read_text().split()
    assert eventually(lambda: not running(int(sleeper))), "the hung test's child outlived it"
    # The resource tracker was spared, and it unlinks what the killed session left.
    name = "sem." + semaphore.lstrip("/")
    assert eventually(lambda: name not in shm_entries()), f"/dev/shm/{name} was left behind"
    assert eventually(lambda: watchdogs_of(session) == [])
    # The sessions that ended normally stopped their own children.
    children = [int(made.read_text().split()[0]) for made in directory.glob("made-*.txt")]
    assert eventually(lambda: not any(map(running, children)))


def test_a_hung_test_is_stopped_with_its_stacks_and_everything_it_started(hung):
    started = time.monotonic()
    result = hung.runpytest_subprocess("-p", "no:cacheprovider", "-n", "0", f"--racecourse-timeout={LIMIT}")
    assert time.monotonic() - started < 120
    assert result.ret == -9  # without xdist the session ends with the test (killed)
    assert_stopped_and_cleaned(result, hung.path)


def test_under_xdist_the_hung_test_fails_and_the_others_run(hung):
    result = hung.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", f"--racecourse-timeout={LIMIT}")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*crashed while running*test_sleeps_for_ten_minutes*"])
    assert_stopped_and_cleaned(result, hung.path)


def test_a_session_within_the_limit_passes_and_its_watchdog_goes(pytester):
    pytester.makepyfile(test_quick='''
        import os

        def test_quick():
            with open("session.txt", "w") as out:
                out.write(str(os.getpid()))
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "0", "--racecourse-timeout=60")
    result.assert_outcomes(passed=1)
    assert "ran past" not in result.stderr.str()
    session = int((pytester.path / "session.txt").read_text())
    assert watchdogs_of(session) == []  # the session waited for it


def test_a_bad_ini_value_is_one_clear_line(pytester):
    pytester.makeini("[pytest]\nracecourse_timeout = soon\n")
    pytester.makepyfile(test_quick="def test_quick(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "racecourse_timeout must be a number of seconds, not 'soon'" in result.stderr.str()
    assert "Traceback" not in result.stderr.str()
