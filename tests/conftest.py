"""Session-wide rules for racecourse's own test suite.

- A warning raised from racecourse's own code (the library and its scenario files) is an
  error: the suite is where such a warning gets noticed.
- fork() in a process that has threads fails the session. The forked child gets a copy of
  the memory but only the thread that forked, so a lock another thread held at that
  moment stays held forever in the child; Python 3.12+ warns about it (a
  DeprecationWarning). The suite is kept clean of it by design, not by filtering:
  racecourse starts no thread before it forks, and a fork session runs without
  pytest-xdist, because every xdist worker has execnet's reader thread (an OS thread,
  which threading.enumerate() does not list). ``-n`` is refused when the session is a fork
  session (RACECOURSE_START_METHOD=fork, as tox's fork environments set), and the session's
  start method is every process's default, so a spawn or forkserver session under xdist
  forks nothing at all. Besides the session-wide check, a fork() with other threads
  alive fails the test it happened in, on every interpreter and under xdist too (found
  by an at-fork hook, as the warning exists only from 3.12 and reaches the session only
  after the test).

  An "error" filter cannot enforce this: os.fork() clears the exception such a filter
  raises, and the warning silently disappears. So the warning stays visible and
  pytest_warning_recorded counts it.
- A test marked ``start_method_independent`` checks something that does not depend on
  the session's start method (the plugin and the hang guard run sessions of their own
  with the start methods they name; the packaging, the README, the catalogue's
  declarations). The tox matrix runs each interpreter under three start methods, so such
  a test would run three times over to prove the same thing: a session with
  RACECOURSE_START_METHOD set runs it only under the marker's ``run_under`` method
  (fork unless it says forkserver, which the plugin's sessions do, to share the load
  between two environments; spawn where the platform lacks the one
  named; fork sessions run as two pytest processes, tools/side_by_side.py, and have the
  most room), and
  deselects it otherwise, visibly ("N deselected"). A session without the variable, as a
  developer runs it, runs everything.
- A test marked ``start_method_rotates`` checks the controlled search over many scenarios
  and sizes (comparisons with the full enumeration, the 3 x 2 proofs). The start method
  decides how the workers start and receive what ``build`` made; once they run, the
  search is the same code, and each primitive's way into a worker is tested under every
  method by tests of its own. So each such case runs under one start method per
  interpreter, a different one on the next interpreter (the interpreter's minor version
  plus the case's own checksum, modulo three): across the matrix, every case runs under
  every start method, on some interpreter, for a third of the cost. A session with
  RACECOURSE_START_METHOD set deselects the cases whose turn it is not, visibly.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import re
import sys
import threading
import warnings
import zlib
from typing import Iterator, List, Optional, Tuple

import pytest

import racecourse
from support import START_METHOD_VARIABLE, nothing_left_behind, start_methods  # noqa: F401  (nothing_left_behind: a fixture, for every module)

# The module field is a regular expression matched against the start of the name of the
# module a warning is attributed to: racecourse, racecourse.cli.run, racecourse.scenarios.x.
OWN_WARNINGS_ARE_ERRORS = r"error::Warning:racecourse(\.|$)"
# CPython's message (os.fork and os.forkpty, 3.12+):
# "This process (pid=123) is multi-threaded, use of fork() may lead to deadlocks in the child."
FORK_WITH_THREADS = re.compile(r"This process \(pid=\d+\) is multi-threaded, use of fork(pty)?\(\)")

_forks_with_threads: List[str] = []


def _distributed(config: pytest.Config) -> bool:
    """An xdist worker, or the controller of xdist workers."""
    return hasattr(config, "workerinput") or (config.getoption("numprocesses", None) or 0) > 0


# The start method whose matrix environment runs a start-method-independent test, unless
# its marker names another (run_under=...).
INDEPENDENT_TESTS_RUN_UNDER = "fork"
# Where the platform lacks the method named (no fork on Windows).
EVERY_PLATFORM_HAS = "spawn"


def _runs_under(item: pytest.Item) -> Optional[str]:
    """The one start method whose session runs this test, or None: every session does."""
    marker = item.get_closest_marker("start_method_independent")
    if marker is None:
        return None
    wanted = marker.kwargs.get("run_under", INDEPENDENT_TESTS_RUN_UNDER)
    return wanted if wanted in multiprocessing.get_all_start_methods() else EVERY_PLATFORM_HAS


# A case's name with its start method left out (test_x[locked-array-spawn] ->
# test_x[locked-array-]), so that its turn does not depend on the session it is in.
_METHOD_IN_NAME = re.compile(r"(?<![A-Za-z0-9_])(forkserver|fork|spawn)(?![A-Za-z0-9_])")
# PyPy 3.9 takes a turn of its own, not CPython 3.9's.
_INTERPRETER_TURN = sys.version_info.minor + (1 if platform.python_implementation() == "PyPy" else 0)


def _turn(item: pytest.Item) -> Optional[str]:
    """The start method whose session runs this start_method_rotates case on this interpreter."""
    if item.get_closest_marker("start_method_rotates") is None:
        return None
    methods = sorted(multiprocessing.get_all_start_methods())
    case = _METHOD_IN_NAME.sub("", item.nodeid)
    return methods[(zlib.crc32(case.encode()) + _INTERPRETER_TURN) % len(methods)]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", OWN_WARNINGS_ARE_ERRORS)
    config.addinivalue_line("markers", "start_method_independent(run_under='fork'): the test's result does not "
                            "depend on the "
                            f"session's start method; a session with {START_METHOD_VARIABLE} set runs it only "
                            "under run_under")
    config.addinivalue_line("markers", "start_method_rotates: the case checks the controlled search, the same "
                            "code under each start method; a session with "
                            f"{START_METHOD_VARIABLE} set runs it only when this interpreter's turn (minor "
                            "version plus the case's checksum, modulo three) names its method")
    # The session's start method is every process's default too (xdist workers included),
    # so a test that runs `racecourse run raw-value` without -m stays within it: a spawn
    # session must not fork behind its back from a worker with execnet's thread.
    methods = start_methods()
    if os.environ.get(START_METHOD_VARIABLE) or "fork" not in methods:
        multiprocessing.set_start_method(methods[0], force=True)
    # Tests that run under each start method ask for racecourse's own start_method fixture,
    # as its users do; it covers the session's methods (without fork under xdist).
    if config.getoption("racecourse_start_methods") is None:
        config.option.racecourse_start_methods = ",".join(methods)
    if hasattr(config, "workerinput"):
        return
    if os.environ.get(START_METHOD_VARIABLE) == "fork" and _distributed(config):
        raise pytest.UsageError(
            "a fork session runs without -n: every pytest-xdist worker has a reader thread, "
            "and fork() in a process with threads can deadlock the child (run it with -n 0)"
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--shard", metavar="K/N", default=None,
                     help="run only the K-th of N interleaved parts of the selected tests "
                          "(tools/side_by_side.py runs a fork session as N such parts side by side)")


def _shard(config: pytest.Config) -> Optional[Tuple[int, int]]:
    text = config.getoption("shard")
    if text is None:
        return None
    number, _, count = text.partition("/")
    if not (number.isdigit() and count.isdigit() and 1 <= int(number) <= int(count)):
        raise pytest.UsageError(f"--shard takes K/N with 1 <= K <= N, not {text!r}")
    return int(number), int(count)


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    chosen = os.environ.get(START_METHOD_VARIABLE)
    if chosen:
        elsewhere = [item for item in items
                     if _runs_under(item) not in (None, chosen) or _turn(item) not in (None, chosen)]
        if elsewhere:
            config.hook.pytest_deselected(items=elsewhere)
            away = {id(item) for item in elsewhere}
            items[:] = [item for item in items if id(item) not in away]
    shard = _shard(config)
    if shard is not None:
        # Every K-th test, not every K-th file: a module's slow parametrized cases (one per
        # catalogue scenario) are spread over the shards instead of landing in one.
        number, count = shard
        others = [item for index, item in enumerate(items) if index % count != number - 1]
        if others:
            config.hook.pytest_deselected(items=others)
            items[:] = items[number - 1::count]


def pytest_warning_recorded(warning_message: warnings.WarningMessage, when: str, nodeid: str) -> None:
    if FORK_WITH_THREADS.match(str(warning_message.message)):
        _forks_with_threads.append(nodeid or f"({when})")


def _threads() -> int:
    """This process's OS threads (execnet's reader included), where /proc tells."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return threading.active_count()


_forks_by_tests_with_threads: List[int] = []


def _before_fork() -> None:
    if _threads() > 1:
        _forks_by_tests_with_threads.append(os.getpid())


# Every interpreter, not only 3.12+: the hook runs before each os.fork() in this process.
os.register_at_fork(before=_before_fork)


@pytest.fixture(autouse=True)
def _no_fork_with_threads(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test in which this process forked while it had other threads."""
    before = len(_forks_by_tests_with_threads)
    yield
    if len(_forks_by_tests_with_threads) > before:
        where = "an xdist worker (execnet's reader thread)" if hasattr(request.config, "workerinput") else (
            "a process with threads")
        pytest.fail(f"fork() ran in {where}: a test uses the session's start method, and under fork "
                    "starts no thread before it forks", pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _forks_with_threads and not _distributed(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if _forks_with_threads and not _distributed(config):
        terminalreporter.write_sep("=", "fork() in a process with threads (fails the session)", red=True)
        for nodeid in sorted(set(_forks_with_threads)):
            terminalreporter.write_line(nodeid)


def pytest_report_header(config: pytest.Config) -> List[str]:
    method = os.environ.get(START_METHOD_VARIABLE) or "all available"
    lines = [f"racecourse {racecourse.__version__} from {os.path.dirname(racecourse.__file__)}, start methods: {method}"]
    if os.environ.get(START_METHOD_VARIABLE):
        lines.append("start-method-independent tests run in the session their marker names (run_under), "
                     "and are deselected in the others; start_method_rotates cases run in the session "
                     f"of this interpreter's turn ({_INTERPRETER_TURN} + the case's checksum, modulo three)")
    return lines
