"""racecourse's pytest plugin (registered through the ``pytest11`` entry point).

- ``--start-methods=fork,spawn,forkserver`` chooses the start methods a session covers;
  the default is ``$RACECOURSE_START_METHOD`` (what the tox factors set), else every
  method this platform has.
- A test that asks for the ``start_method`` or the ``racecourse`` fixture, or carries
  ``@pytest.mark.racecourse``, runs once per chosen start method, and for its whole
  duration that method is multiprocessing's default: ``Pool()``, ``Process()``,
  ``Manager()``, ``ProcessPoolExecutor()`` and racecourse's own API all use it. The
  previous default comes back afterwards. ``@pytest.mark.racecourse(start_methods=[...])``
  narrows the methods for one test.
- ``--each-start-method`` (ini ``racecourse_each_start_method = true``, or a list of path
  patterns to narrow it) does the same for every collected test, without a fixture;
  ``@pytest.mark.racecourse(each_start_method=False)`` opts one out.
- The ``racecourse`` fixture is the API bound to that start method:
  ``racecourse.stress(...)``, ``racecourse.explore(...)`` and ``racecourse.replay(...)``
  return results; ``racecourse.check_stress(...)`` and ``racecourse.check_explore(...)``
  fail the test with the full report (for explore: the minimal failing schedule, the
  command that replays it and the timeline) when the code is not correct.
- ``--racecourse-timeout=SECONDS`` (or the ini option ``racecourse_timeout``) stops a test
  that runs longer, with the stacks of its threads, by a watchdog process rather than a
  thread, so that a session that forks stays free of threads (see ``hang_guard``).
- Under pytest-xdist, fork runs in a process with a thread (execnet's): the plugin says so
  once per session, with what to do, instead of Python's warning at every fork.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import math
import multiprocessing
import os
import re
import subprocess
import sys
import warnings
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Set

import pytest

from ..errors import RacecourseError
from ..sharing import available_start_methods
from .hang_guard import Guard

if TYPE_CHECKING:
    from ..control.exploration import Exploration, ScheduleRun
    from ..results import RunResult
    from ..saved import SavedFailure

START_METHOD_VARIABLE = "RACECOURSE_START_METHOD"
_GUARD = pytest.StashKey[Guard]()
# Recorded on a test's report by an xdist worker, read by the controller.
_FORK_IN_WORKER = ("racecourse", "fork in an xdist worker")
# Recorded on every report of a test run under one start method, and the scenario (as the
# command line names it) that its racecourse fixture checked: read by _MethodSplits.
_METHOD_PROPERTY = "racecourse start method"
_SCENARIO_PROPERTY = "racecourse scenario"
# CPython 3.12+, at every fork in a process with threads.
_FORK_WARNING = r"This process \(pid=\d+\) is multi-threaded, use of fork\(\)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("racecourse", "racecourse: race conditions across start methods")
    group.addoption(
        "--start-methods",
        dest="racecourse_start_methods",
        metavar="LIST",
        default=None,
        help="comma-separated start methods for tests that run once per start method "
        f"(default: ${START_METHOD_VARIABLE}, else all this platform has)",
    )
    group.addoption(
        "--each-start-method",
        dest="racecourse_each_start_method",
        action="store_true",
        default=None,
        help="run every test once per start method, with that method as multiprocessing's default "
        "(default: the racecourse_each_start_method ini option)",
    )
    group.addoption(
        "--racecourse-timeout",
        dest="racecourse_timeout",
        metavar="SECONDS",
        default=None,
        help="stop a test that runs longer than this, printing its stacks (a watchdog process, "
        "not a thread; 0: no limit; default: the racecourse_timeout ini option, else none)",
    )
    parser.addini("racecourse_timeout", "per-test limit in seconds (see --racecourse-timeout)", default="0")
    parser.addini(
        "racecourse_each_start_method",
        "true: run every test once per start method (see --each-start-method); or path patterns "
        "(tests/concurrency/*): only the tests in matching files",
        default="",
    )


def chosen_start_methods(config: pytest.Config) -> List[str]:
    option: Optional[str] = config.getoption("racecourse_start_methods")
    text = option if option is not None else os.environ.get(START_METHOD_VARIABLE)
    available = available_start_methods()
    if text is None or (option is None and not text.strip()):
        return available
    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:
        raise pytest.UsageError(
            f"racecourse: --start-methods is empty: give some of {', '.join(available)} (comma-separated)")
    unknown = [m for m in methods if m not in available]
    if unknown:
        raise pytest.UsageError(
            f"racecourse: start method(s) {', '.join(unknown)} not available here "
            f"(this platform has: {', '.join(available)})"
        )
    return list(dict.fromkeys(methods))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "racecourse(start_methods=[...], each_start_method=True): run this test once per start method "
        "(only these), with that method as multiprocessing's default; each_start_method=False: once only",
    )
    chosen_start_methods(config)  # refuse bad options before collecting anything
    _each_start_method_patterns(config)
    limit = _test_time_limit(config)
    # Only where tests run: an xdist controller (distributing, not itself a worker) runs
    # none. Its "dsession" plugin is registered only after this hook, hence the option.
    controller = getattr(config.option, "dist", "no") != "no" and not hasattr(config, "workerinput")
    if limit > 0 and not controller:
        config.stash[_GUARD] = Guard(limit)
    if not config.pluginmanager.has_plugin("racecourse-fork-notice"):
        config.pluginmanager.register(_ForkNotice(), "racecourse-fork-notice")
    if not config.pluginmanager.has_plugin("racecourse-method-splits") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_MethodSplits(), "racecourse-method-splits")


def _seconds(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value) or value < 0 or value == math.inf:
        raise pytest.UsageError(
            f"racecourse: {where} must be a number of seconds, not {text!r} (0: no limit)") from None
    return value


def _test_time_limit(config: pytest.Config) -> float:
    option: Optional[str] = config.getoption("racecourse_timeout")
    if option is not None:
        return _seconds(option, "--racecourse-timeout")
    return _seconds(str(config.getini("racecourse_timeout")).strip() or "0", "racecourse_timeout")


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


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _each_start_method_patterns(config: pytest.Config) -> Optional[List[str]]:
    """Which tests run once per start method without asking: None for none, [] for all,
    else the path patterns (relative to the rootdir) of their files."""
    if config.getoption("racecourse_each_start_method"):
        return []
    values = str(config.getini("racecourse_each_start_method")).split()
    if not values or (len(values) == 1 and values[0].lower() in _FALSE):
        return None
    if len(values) == 1 and values[0].lower() in _TRUE:
        return []
    if any(v.lower() in _TRUE + _FALSE for v in values):
        raise pytest.UsageError(
            "racecourse: racecourse_each_start_method is true, false, or path patterns, not a mix: "
            f"{' '.join(values)}")
    return values


def _runs_each_start_method(metafunc: pytest.Metafunc) -> bool:
    marker = metafunc.definition.get_closest_marker("racecourse")
    if marker is not None:
        return bool(marker.kwargs.get("each_start_method", True))
    patterns = _each_start_method_patterns(metafunc.config)
    if patterns is None:
        return False
    if not patterns:
        return True
    path = os.path.relpath(str(metafunc.definition.path), str(metafunc.config.rootpath)).replace(os.sep, "/")
    return any(fnmatch.fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/") for pattern in patterns)


def _parametrized_by_the_user(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if "start_method" in ([n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)):
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "start_method" in metafunc.fixturenames:
        if _parametrized_by_the_user(metafunc):
            return
    elif _runs_each_start_method(metafunc):
        # The test asked for no fixture: it gets ours, which sets the default start method.
        metafunc.fixturenames.append("start_method")
    else:
        return
    methods = chosen_start_methods(metafunc.config)
    marker = metafunc.definition.get_closest_marker("racecourse")
    if marker is not None and "start_methods" in marker.kwargs:
        wanted = list(marker.kwargs["start_methods"])
        methods = [m for m in methods if m in wanted]
    if not methods:
        metafunc.parametrize("start_method", [pytest.param(None, marks=pytest.mark.skip(
            reason="none of this test's start methods is selected"))], indirect=True)
        return
    metafunc.parametrize("start_method", methods, indirect=True)


def _stop_forkserver() -> None:
    """Stop the forkserver this process started, if it runs. It forks every later
    forkserver child from its own state as it was when it started (its environment, for
    one): a fresh one per test keeps one test's state out of the next one's children."""
    from multiprocessing import forkserver

    server: Any = getattr(forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if stop is not None and getattr(server, "_forkserver_pid", None) is not None:
        stop()


@pytest.fixture
def start_method(request: pytest.FixtureRequest) -> Iterator[str]:
    """The start method this run of the test uses (one run per chosen method). For the
    test's duration it is multiprocessing's default start method."""
    method: str = request.param
    previous = multiprocessing.get_start_method(allow_none=True)
    if method == "fork" and hasattr(request.config, "workerinput"):
        # Said once for the session by the controller, rather than at every fork (3.12+).
        warnings.filterwarnings("ignore", message=_FORK_WARNING, category=DeprecationWarning)
        getattr(request.node, "user_properties", []).append(_FORK_IN_WORKER)
    if method == "forkserver":
        _stop_forkserver()
    getattr(request.node, "user_properties", []).append((_METHOD_PROPERTY, method))
    multiprocessing.set_start_method(method, force=True)
    try:
        yield method
    finally:
        multiprocessing.set_start_method(previous, force=True)
        if method == "forkserver":
            _stop_forkserver()


@pytest.fixture(autouse=True)
def _racecourse_start_method_first(request: pytest.FixtureRequest) -> None:
    """Sets the test's start method up before its other fixtures (autouse ones come first),
    so that a Manager or Pool a fixture makes uses it too."""
    # By its parameter: a test that asked for no fixture (--each-start-method) has the
    # parameter, though pytest drops the name from the fixtures it asked for.
    if "start_method" in getattr(getattr(request.node, "callspec", None), "params", {}):
        request.getfixturevalue("start_method")


class _ForkNotice:
    """On the xdist controller: the tests that ran under fork in a worker, said once."""

    def __init__(self) -> None:
        self.nodeids: Set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if any(tuple(p) == _FORK_IN_WORKER for p in report.user_properties):
            self.nodeids.add(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.nodeids:
            return
        count = len(self.nodeids)
        terminalreporter.write_sep("=", "racecourse: fork under pytest-xdist", yellow=True)
        terminalreporter.write_line(
            f"{count} test{'s' if count != 1 else ''} ran under fork in pytest-xdist workers, which have a "
            "thread (execnet's): fork() in a process with threads can deadlock the child, and Python "
            "3.12+ warns at every fork (racecourse says it here once instead). For fork results you can "
            "rely on, run fork without xdist: pytest -n 0 --start-methods=fork, and the others with "
            "-n: pytest -n 2 --start-methods=spawn,forkserver")


class _MethodSplits:
    """Tests that pass under one start method and fail under another, said at the end with
    why: for a test whose racecourse fixture checked a scenario, the provenance of the
    objects its worker uses (``racecourse explain --provenance``), found in a process of
    its own (this one may be an xdist controller, which must not fork)."""

    def __init__(self) -> None:
        self.outcomes: Dict[str, Dict[str, str]] = {}  # test (method left out) -> method -> outcome
        self.scenarios: Dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties: Dict[str, str] = {str(p[0]): str(p[1]) for p in report.user_properties if len(p) == 2}
        method = properties.get(_METHOD_PROPERTY)
        if method is None or getattr(report, "wasxfail", None) is not None:
            return
        test = re.sub(rf"(?<=[\[-]){re.escape(method)}(?=[\]-])", "*", report.nodeid, count=1)
        if report.failed or (report.when == "call" and report.passed):
            mine = self.outcomes.setdefault(test, {})
            mine[method] = "failed" if report.failed or mine.get(method) == "failed" else "passed"
        if _SCENARIO_PROPERTY in properties:
            self.scenarios[test] = properties[_SCENARIO_PROPERTY]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        splits = {test: methods for test, methods in self.outcomes.items()
                  if {"passed", "failed"} <= set(methods.values())}
        if not splits:
            return
        terminalreporter.write_sep("=", "racecourse: the start method decides", red=True)
        for test, methods in splits.items():
            passed = [m for m, outcome in methods.items() if outcome == "passed"]
            failed = [m for m, outcome in methods.items() if outcome == "failed"]
            terminalreporter.write_line(f"{test}: passes under {', '.join(passed)}, fails under {', '.join(failed)}")
            for line in _why(self.scenarios.get(test), passed + failed):
                terminalreporter.write_line(f"  {line}")


def _why(scenario: Optional[str], methods: List[str]) -> List[str]:
    """Why the methods part, in sentences: the scenario's provenance, or what differs in general."""
    if scenario is not None:
        traced = subprocess.run([sys.executable, "-m", "racecourse", "explain", scenario, "--provenance", "--json",
                                 "-m", ",".join(methods)], capture_output=True, text=True, timeout=300)
        if traced.returncode == 0:
            why = json.loads(traced.stdout)[0]["why"]
            return why or [f"every object {scenario}'s worker uses reaches the children the same way under each "
                           "method (racecourse explain --provenance): look at what the processes do at start-up"]
    return ["under fork a child starts as a copy of the test process: module globals as the test left them, "
            "objects made before the Pool or Process; under spawn and forkserver the child imports the test's "
            "modules afresh, so what the test set or made at run time is not there (pass it to the child instead: "
            "Process args, a Pool initializer, functools.partial)"]


@contextlib.contextmanager
def _readable_errors() -> Iterator[None]:
    """What racecourse refuses on purpose (code control cannot schedule, a schedule that
    does not fit) fails the test with racecourse's sentence rather than a traceback into it."""
    try:
        yield
    except RacecourseError as error:
        # from None: the report is the sentence, without "during handling of the above".
        raise pytest.fail.Exception(f"racecourse: {type(error).__name__}: {error}", pytrace=False) from None


class BoundRacecourse:
    """racecourse's API (``racecourse.stress``, ``explore``, ``replay``) with this run's
    start method filled in, plus ``check_*`` versions that fail the test with the report."""

    def __init__(self, start_method: str, seeds: Optional["_Seeds"] = None,
                 properties: Optional[List[Any]] = None) -> None:
        self.start_method = start_method
        self.seeds = seeds
        self.properties = properties  # the test's user_properties: the scenario it checked goes there

    def _note(self, target: Any) -> None:
        """Record the scenario a check ran on, for the end-of-session start-method summary."""
        from ..catalogue import locate, target_of
        from ..model import Scenario

        if self.properties is not None and isinstance(target, Scenario):
            named = target_of(locate(target))
            if named is not None and (_SCENARIO_PROPERTY, named) not in self.properties:
                self.properties.append((_SCENARIO_PROPERTY, named))

    def stress(self, target: Any, **options: Any) -> RunResult:
        """:func:`racecourse.stress` under this run's start method."""
        from ..api import stress

        options.setdefault("start_method", self.start_method)
        with _readable_errors():
            return stress(target, **options)

    def check_stress(self, target: Any, **options: Any) -> RunResult:
        """Like ``stress``, and fail the test with the report when a trial was not correct."""
        self._note(target)
        result = self.stress(target, **options)
        if not result.ok:
            pytest.fail(result.report(), pytrace=False)
        return result

    def explore(self, target: Any, **options: Any) -> Exploration:
        """:func:`racecourse.explore` under this run's start method."""
        from ..api import explore

        options.setdefault("start_method", self.start_method)
        with _readable_errors():
            return explore(target, **options)

    def check_explore(self, target: Any, *, complete: bool = True, **options: Any) -> Exploration:
        """Like ``explore``, and fail the test when a schedule went wrong, with the simplest
        failing schedule, the command that replays it and its timeline. With ``complete``
        (the default), an exhaustive exploration that ran out of budget fails too: it did
        not check every interleaving."""
        from .. import saved

        self._note(target)
        method = options.get("start_method") or self.start_method
        if self.seeds is not None:
            self._replay_seeds(target, method, options)
        result = self.explore(target, **options)
        if self.seeds is not None:
            self.seeds.keep(method, [] if result.ok else saved.failures_of([result]))
        if not result.ok:
            pytest.fail(result.report(), pytrace=False)
        if complete and result.strategy == "exhaustive" and not result.complete:
            pytest.fail(f"{result.report()}\nthe budget ran out before every schedule ran: raise budget= "
                        "or explore smaller sizes (or pass complete=False)", pytrace=False)
        return result

    def _replay_seeds(self, target: Any, method: str, options: Dict[str, Any]) -> None:
        """Failing schedules an earlier run of this test saved (pytest's cache), first: a
        bug found once is checked again in milliseconds, before any exploration."""
        from ..api import replay
        from ..control.schedule import ScheduleError

        assert self.seeds is not None
        passed_on = {key: value for key, value in options.items() if key in _REPLAY_OPTIONS}
        for seed in self.seeds.saved(method):
            try:
                again = replay(target, schedule=seed["schedule"], start_method=method, **passed_on)
            except ScheduleError:
                continue  # the code changed: the schedule no longer fits it
            if not again.ok:
                pytest.fail(f"a failing schedule saved by an earlier run (pytest's cache) fails again: "
                            f"{seed['schedule']} under {method}: {again.outcome}\nreplay: {again.replay_command}\n\n"
                            f"{again.timeline()}", pytrace=False)

    def replay(self, target: Any, **options: Any) -> ScheduleRun:
        """:func:`racecourse.replay` under this run's start method."""
        from ..api import replay

        options.setdefault("start_method", self.start_method)
        with _readable_errors():
            return replay(target, **options)


# What check_explore passes on to the replay of a saved schedule (the sizes come with it).
_REPLAY_OPTIONS = {"build", "observe", "expected", "check", "invariant", "timeout", "name"}


class _Seeds:
    """One test's failing schedules, kept in pytest's cache between runs (one key per test,
    so that xdist workers never write the same file)."""

    def __init__(self, cache: Any, nodeid: str) -> None:
        self.cache = cache
        self.key = "racecourse/failing-schedules/" + hashlib.sha1(nodeid.encode()).hexdigest()[:20]
        self.nodeid = nodeid

    def _all(self) -> Dict[str, Any]:
        found = self.cache.get(self.key, None)
        return found if isinstance(found, dict) and isinstance(found.get("seeds"), list) else {"seeds": []}

    def saved(self, method: str) -> List[Dict[str, str]]:
        return [seed for seed in self._all()["seeds"] if isinstance(seed, dict) and seed.get("start_method") == method
                and isinstance(seed.get("schedule"), str)]

    def keep(self, method: str, failures: List[SavedFailure]) -> None:
        """This run's failures under ``method`` replace the ones saved before (none: the bug is fixed)."""
        others = [seed for seed in self._all()["seeds"] if seed.get("start_method") != method]
        mine = [{"schedule": f.schedule, "start_method": method, "outcome": f.outcome} for f in failures]
        if others or mine or self.cache.get(self.key, None) is not None:
            self.cache.set(self.key, {"nodeid": self.nodeid, "seeds": others + mine})


@pytest.fixture
def racecourse(start_method: str, request: pytest.FixtureRequest) -> BoundRacecourse:
    """racecourse's API bound to this run's start method. ``check_explore`` keeps the
    failing schedules it finds in pytest's cache and replays them first on the next run."""
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    return BoundRacecourse(start_method, _Seeds(cache, request.node.nodeid) if cache is not None else None,
                           getattr(request.node, "user_properties", None))
