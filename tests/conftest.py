"""Session-wide rules for racecourse's own test suite.

- A warning raised from racecourse's own code (the library and its scenario files) is an
  error: the suite is where such a warning gets noticed.
- fork() in a process that has threads is an error. The forked child gets a copy of the
  memory but only the thread that forked, so a lock another thread held at that moment is
  held forever in the child; Python 3.12+ warns about it (a DeprecationWarning). The suite
  is kept clean of it by design, not by filtering: racecourse starts no thread before it
  forks, and a fork session runs without pytest-xdist, because every xdist worker has
  execnet's reader thread (an OS thread, not listed by threading.enumerate()). Under xdist
  the rule cannot hold, so it is enforced everywhere else and ``-n`` is refused when the
  session is a fork session (RACECOURSE_START_METHOD=fork, as tox's fork environments set).
"""

from __future__ import annotations

import os
from typing import List

import pytest

import racecourse
from support import START_METHOD_VARIABLE

# The module field is a regular expression matched against the start of the name of the
# module a warning is attributed to: racecourse, racecourse.cli.run, racecourse.scenarios.x.
OWN_WARNINGS_ARE_ERRORS = r"error::Warning:racecourse(\.|$)"
# CPython's message: "This process (pid=123) is multi-threaded, use of fork() may lead to
# deadlocks in the child." (os.fork and os.forkpty).
FORK_WITH_THREADS_IS_AN_ERROR = (
    r"error:This process \(pid=\d+\) is multi-threaded, use of fork(pty)?\(\) may lead to deadlocks:DeprecationWarning"
)


def _xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", OWN_WARNINGS_ARE_ERRORS)
    if _xdist_worker(config):
        return
    config.addinivalue_line("filterwarnings", FORK_WITH_THREADS_IS_AN_ERROR)
    if os.environ.get(START_METHOD_VARIABLE) == "fork" and (config.getoption("numprocesses", None) or 0) > 0:
        raise pytest.UsageError(
            "a fork session runs without -n: every pytest-xdist worker has a reader thread, "
            "and fork() in a process with threads can deadlock the child (run it with -n 0)"
        )


def pytest_report_header(config: pytest.Config) -> List[str]:
    method = os.environ.get(START_METHOD_VARIABLE) or "all available"
    return [f"racecourse {racecourse.__version__} from {os.path.dirname(racecourse.__file__)}, start methods: {method}"]
