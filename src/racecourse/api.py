"""The public API for checking your own concurrency code.

Three functions run your code in real worker processes, under a start method of your
choice, and judge the result:

- ``racecourse.stress(...)``: natural scheduling, all processes released together, for
  several trials (finds races statistically, at realistic sizes);
- ``racecourse.explore(...)``: the controlled scheduler, one visible operation at a time,
  every interleaving at small sizes or a sample of them (finds races for certain, and
  says which schedule breaks your code);
- ``racecourse.replay(...)``: one given schedule again, with its timeline.

Each takes either a ``Scenario`` your module declares at module level (as a scenario file
does; its failures then print ``racecourse replay path/to/file.py:NAME --schedule ...``)
or your functions, by keyword:

- ``build(share, processes, ops)`` makes the shared state with ``share`` (a
  ``racecourse.sharing.Share``: ``share.Value``, ``share.Lock``, ``share.manager()``...)
  and returns it as a dict; its names are what the other functions ask for;
- ``worker(<shared names>, ops, index, processes)`` is your code, run in every process;
- ``observe(<shared names>)`` returns a count, compared with ``expected`` (an int, or
  ``f(processes, ops)``; default ``processes * ops``);
- ``check(<shared names>)`` returns ``None`` when your invariant holds, else a sentence
  saying what broke (``invariant=`` is accepted as another name for it).

Every function is called with just the arguments its signature names, and must be a
module-level function, so that spawn and forkserver children can import it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Optional, Union

from . import catalogue, stress_runner
from .control.engine import Controller
from .control.exploration import Exploration, ScheduleRun
from .control.exploration import explore as _explore
from .control.schedule import check_fits, parse_schedule
from .control.strategies import replay as _replay
from .model import Defaults, Expect, FixedCount, Scenario
from .results import RunResult

Expected = Union[int, Callable[[int, int], int], None]
Check = Callable[..., Optional[str]]
Target = Union[Scenario, Callable[..., Any]]

# The stress runner's sizes for code given as functions: those of a Scenario without defaults=.
STRESS_DEFAULTS = Defaults()


def scenario_from(
    worker: Callable[..., Any],
    *,
    build: Callable[..., Any],
    observe: Optional[Callable[..., int]] = None,
    expected: Expected = None,
    check: Optional[Check] = None,
    name: Optional[str] = None,
    expect: Expect = Expect.SAFE,
) -> Scenario:
    """A ``Scenario`` made in code rather than declared in a file."""
    if observe is None and check is None:
        raise TypeError("give observe= (a count to compare with expected=) or check= (an invariant), or both")
    scenario = Scenario(
        id=name or worker.__qualname__,
        title=(worker.__doc__ or worker.__qualname__).strip().splitlines()[0],
        expect=expect,
        build=build,
        worker=worker,
        observe=observe,
        check=check,
        lesson=(worker.__doc__ or "").strip(),
        defaults=STRESS_DEFAULTS,
    )
    if expected is None:
        return scenario
    return replace(scenario, expected=FixedCount(expected) if isinstance(expected, int) else expected)


def as_scenario(
    target: Target,
    *,
    build: Optional[Callable[..., Any]] = None,
    observe: Optional[Callable[..., int]] = None,
    expected: Expected = None,
    check: Optional[Check] = None,
    invariant: Optional[Check] = None,
    name: Optional[str] = None,
) -> Scenario:
    """The scenario the API runs: ``target`` itself when it is a ``Scenario`` (located in
    its module), else one made from the functions."""
    if invariant is not None:
        if check is not None:
            raise TypeError("give check= or its other name invariant=, not both")
        check = invariant
    if isinstance(target, Scenario):
        given = [key for key, value in (("build", build), ("observe", observe), ("expected", expected),
                                        ("check", check), ("name", name)) if value is not None]
        if given:
            raise TypeError(f"a Scenario declares its own {', '.join(given)}: change the Scenario instead")
        return catalogue.locate(target)
    if not callable(target):
        raise TypeError(f"expected a worker function or a racecourse.Scenario, not {type(target).__name__}")
    if build is None:
        raise TypeError("give build=, the function that makes the shared state")
    return scenario_from(target, build=build, observe=observe, expected=expected, check=check, name=name)


def stress(
    target: Target,
    *,
    build: Optional[Callable[..., Any]] = None,
    observe: Optional[Callable[..., int]] = None,
    expected: Expected = None,
    check: Optional[Check] = None,
    invariant: Optional[Check] = None,
    processes: Optional[int] = None,
    ops: Optional[int] = None,
    trials: Optional[int] = None,
    start_method: Optional[str] = None,
    timeout: Optional[float] = None,
    name: Optional[str] = None,
) -> RunResult:
    """Run the worker in ``processes`` real processes, ``trials`` times, and judge every trial.

    ``target`` is a worker function (with ``build=`` and ``observe=`` and/or ``check=``)
    or a ``Scenario``. Unset sizes are the Scenario's defaults, or for functions 2
    processes x 1,000 ops, 3 trials, 30 s timeout per trial (counted from the start line;
    starting the workers may take the timeout or 60 s, whichever is longer).

    The result has the fields of ``racecourse run --json``; ``result.ok`` is true when
    every trial was correct, and ``result.report()`` says what went wrong.
    """
    scenario = as_scenario(target, build=build, observe=observe, expected=expected, check=check,
                           invariant=invariant, name=name)
    return stress_runner.run(scenario, processes=processes, ops=ops, trials=trials, start_method=start_method,
                             timeout=timeout)


def explore(
    target: Target,
    *,
    build: Optional[Callable[..., Any]] = None,
    observe: Optional[Callable[..., int]] = None,
    expected: Expected = None,
    check: Optional[Check] = None,
    invariant: Optional[Check] = None,
    processes: int = 2,
    ops: int = 1,
    strategy: str = "exhaustive",
    budget: Optional[int] = None,
    seed: int = 0,
    depth: int = 3,
    reduction: bool = True,
    start_method: Optional[str] = None,
    timeout: float = 10.0,
    name: Optional[str] = None,
) -> Exploration:
    """Run the worker in ``processes`` real processes under control and explore its schedules.

    ``target`` is as for :func:`stress`. Every read, write, acquire and release of the
    shared objects ``build`` returns is a scheduling point, and
    ``racecourse.checkpoint(label)`` adds one anywhere. ``strategy`` is ``"exhaustive"``
    (every interleaving, within ``budget``; ``reduction`` skips orders that only swap
    independent operations), ``"random"`` or ``"pct"`` (bug depth ``depth``), both seeded
    by ``seed``. ``timeout`` bounds the wait for a worker's next operation.

    The result has the fields of ``racecourse explore --json``; ``result.ok`` is false when
    some schedule broke the count or the invariant; ``result.first_failure`` is the failing
    schedule with the fewest context switches (``.schedule``, ``.sized``, ``.outcome``,
    ``.replay_command``, ``.timeline()``), and ``result.report()`` shows all of it.
    """
    scenario = as_scenario(target, build=build, observe=observe, expected=expected, check=check,
                           invariant=invariant, name=name)
    return _explore(
        scenario, processes=processes, ops=ops, strategy=strategy, budget=budget, seed=seed, depth=depth,
        reduction=reduction, start_method=start_method, timeout=timeout,
    )


def replay(
    target: Target,
    *,
    schedule: str,
    build: Optional[Callable[..., Any]] = None,
    observe: Optional[Callable[..., int]] = None,
    expected: Expected = None,
    check: Optional[Check] = None,
    invariant: Optional[Check] = None,
    processes: Optional[int] = None,
    ops: Optional[int] = None,
    start_method: Optional[str] = None,
    timeout: float = 10.0,
    name: Optional[str] = None,
) -> ScheduleRun:
    """Run exactly one schedule (``"0101"``, or sized: ``"2x1:0101"``) and record every step.

    ``target`` is as for :func:`stress`. The sizes are the ones the schedule carries, or
    ``processes`` and ``ops`` (default 2 x 1). The result has the fields of
    ``racecourse replay --json`` (``schedule``, ``outcome``, ``ok``, ``steps``) and
    ``.timeline()``. A schedule that does not fit the code raises
    ``racecourse.control.ScheduleError``.
    """
    sized = parse_schedule(schedule)
    chosen = []
    for label, given, carried, default in (("processes", processes, sized.processes, 2), ("ops", ops, sized.ops, 1)):
        if given is not None and carried is not None and given != carried:
            raise ValueError(f"{label}={given} disagrees with the schedule's size ({carried} {label})")
        chosen.append(given if given is not None else carried if carried is not None else default)
    check_fits(sized.steps, chosen[0], schedule)
    scenario = as_scenario(target, build=build, observe=observe, expected=expected, check=check,
                           invariant=invariant, name=name)
    with Controller(scenario, chosen[0], chosen[1], start_method, timeout) as controller:
        execution = _replay(controller, sized.steps, schedule)
    return ScheduleRun(execution, scenario)
