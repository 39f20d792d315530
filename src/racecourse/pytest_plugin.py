"""racecourse's pytest plugin (registered through the ``pytest11`` entry point).

- ``--start-methods=fork,spawn,forkserver`` chooses the start methods a session covers;
  the default is ``$RACECOURSE_START_METHOD`` (what the tox factors set), else every
  method this platform has.
- A test that asks for the ``start_method`` or the ``racecourse`` fixture runs once per
  chosen start method. ``@pytest.mark.racecourse(start_methods=[...])`` narrows that for
  one test (for code that is only meant to work under some of them).
- The ``racecourse`` fixture is the API bound to that start method:
  ``racecourse.stress(...)``, ``racecourse.explore(...)`` and ``racecourse.replay(...)``
  return results; ``racecourse.check_stress(...)`` and ``racecourse.check_explore(...)``
  fail the test with the full report (for explore: the minimal failing schedule, the
  command that replays it and the timeline) when the code is not correct.
- ``--racecourse-timeout=SECONDS`` (or the ini option ``racecourse_timeout``) stops a test
  that runs longer, with the stacks of its threads, by a watchdog process rather than a
  thread, so that a session that forks stays free of threads (see ``hang_guard``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator, List, Optional

import pytest

from .hang_guard import Guard
from .sharing import available_start_methods

if TYPE_CHECKING:
    from .control.exploration import Exploration, ScheduleRun
    from .results import RunResult

START_METHOD_VARIABLE = "RACECOURSE_START_METHOD"
_GUARD = pytest.StashKey[Guard]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("racecourse", "racecourse: race conditions across start methods")
    group.addoption(
        "--start-methods",
        dest="racecourse_start_methods",
        metavar="LIST",
        default=None,
        help="comma-separated start methods for tests using the racecourse fixtures "
        f"(default: ${START_METHOD_VARIABLE}, else all this platform has)",
    )
    group.addoption(
        "--racecourse-timeout",
        dest="racecourse_timeout",
        metavar="SECONDS",
        type=float,
        default=None,
        help="stop a test that runs longer than this, printing its stacks (a watchdog process, "
        "not a thread; 0: no limit; default: the racecourse_timeout ini option, else none)",
    )
    parser.addini("racecourse_timeout", "per-test limit in seconds (see --racecourse-timeout)", default="0")


def chosen_start_methods(config: pytest.Config) -> List[str]:
    text: Optional[str] = config.getoption("racecourse_start_methods") or os.environ.get(START_METHOD_VARIABLE)
    available = available_start_methods()
    if not text:
        return available
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in available]
    if unknown or not methods:
        raise pytest.UsageError(
            f"racecourse: start method(s) {', '.join(unknown) or repr(text)} not available here "
            f"(this platform has: {', '.join(available)})"
        )
    return methods


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "racecourse(start_methods=[...]): run this test only under these start methods "
        "(tests using the racecourse or start_method fixture run once per start method)",
    )
    chosen_start_methods(config)  # refuse a bad --start-methods before collecting anything
    limit = _test_time_limit(config)
    # Only where tests run: an xdist controller (distributing, not itself a worker) runs
    # none. Its "dsession" plugin is registered only after this hook, hence the option.
    controller = getattr(config.option, "dist", "no") != "no" and not hasattr(config, "workerinput")
    if limit > 0 and not controller:
        config.stash[_GUARD] = Guard(limit)


def _test_time_limit(config: pytest.Config) -> float:
    option: Optional[float] = config.getoption("racecourse_timeout")
    if option is not None:
        return option
    text = str(config.getini("racecourse_timeout")).strip() or "0"
    try:
        return float(text)
    except ValueError:
        raise pytest.UsageError(f"racecourse: racecourse_timeout must be a number of seconds, not {text!r}") from None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    guard = item.config.stash.get(_GUARD, None)
    if guard is not None:
        guard.started(item.nodeid)
    yield
    if guard is not None:
        guard.finished()


def pytest_unconfigure(config: pytest.Config) -> None:
    guard = config.stash.get(_GUARD, None)
    if guard is not None:
        del config.stash[_GUARD]
        guard.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "start_method" not in metafunc.fixturenames:
        return
    methods = chosen_start_methods(metafunc.config)
    marker = metafunc.definition.get_closest_marker("racecourse")
    if marker is not None and "start_methods" in marker.kwargs:
        wanted = list(marker.kwargs["start_methods"])
        methods = [m for m in methods if m in wanted]
    if not methods:
        metafunc.parametrize("start_method", [pytest.param(None, marks=pytest.mark.skip(
            reason="none of this test's start methods is selected"))])
        return
    metafunc.parametrize("start_method", methods)


@pytest.fixture
def start_method(request: pytest.FixtureRequest) -> str:
    """The start method this run of the test uses (one run per chosen method)."""
    return str(request.param)


class BoundRacecourse:
    """racecourse's API (``racecourse.stress``, ``explore``, ``replay``) with this run's
    start method filled in, plus ``check_*`` versions that fail the test with the report."""

    def __init__(self, start_method: str) -> None:
        self.start_method = start_method

    def stress(self, target: Any, **options: Any) -> RunResult:
        """:func:`racecourse.stress` under this run's start method."""
        from .api import stress

        options.setdefault("start_method", self.start_method)
        return stress(target, **options)

    def check_stress(self, target: Any, **options: Any) -> RunResult:
        """Like ``stress``, and fail the test with the report when a trial was not correct."""
        result = self.stress(target, **options)
        if not result.ok:
            pytest.fail(result.report(), pytrace=False)
        return result

    def explore(self, target: Any, **options: Any) -> Exploration:
        """:func:`racecourse.explore` under this run's start method."""
        from .api import explore

        options.setdefault("start_method", self.start_method)
        return explore(target, **options)

    def check_explore(self, target: Any, *, complete: bool = True, **options: Any) -> Exploration:
        """Like ``explore``, and fail the test when a schedule went wrong, with the simplest
        failing schedule, the command that replays it and its timeline. With ``complete``
        (the default), an exhaustive exploration that ran out of budget fails too: it did
        not check every interleaving."""
        result = self.explore(target, **options)
        if not result.ok:
            pytest.fail(result.report(), pytrace=False)
        if complete and result.strategy == "exhaustive" and not result.complete:
            pytest.fail(f"{result.report()}\nthe budget ran out before every schedule ran: raise budget= "
                        "or explore smaller sizes (or pass complete=False)", pytrace=False)
        return result

    def replay(self, target: Any, **options: Any) -> ScheduleRun:
        """:func:`racecourse.replay` under this run's start method."""
        from .api import replay

        options.setdefault("start_method", self.start_method)
        return replay(target, **options)


@pytest.fixture
def racecourse(start_method: str) -> BoundRacecourse:
    """racecourse's API bound to this run's start method."""
    return BoundRacecourse(start_method)
