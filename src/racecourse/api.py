"""The public API for checking your own concurrency code.

``racecourse.stress(worker, build=..., observe=... or invariant=...)`` runs a worker
function of yours in N real processes, released together, for T trials, under a start
method, and judges every trial. The worker and the functions it is given are called by
name, as in scenario files (see ``racecourse.model``); they must be module-level
functions so that spawn and forkserver children can import them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Optional, Union

from . import stress_runner
from .control.exploration import Exploration
from .control.exploration import explore as _explore
from .model import Defaults, Expect, Scenario
from .results import RunResult

Expected = Union[int, Callable[[int, int], int], None]


class _Fixed:
    """An expected count that does not depend on the sizes (picklable, unlike a lambda)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __call__(self, processes: int, ops: int) -> int:
        return self.value


def scenario_from(
    worker: Callable[..., Any],
    *,
    build: Callable[..., Any],
    observe: Optional[Callable[..., int]] = None,
    expected: Expected = None,
    invariant: Optional[Callable[..., Optional[str]]] = None,
    name: Optional[str] = None,
    expect: Expect = Expect.SAFE,
) -> Scenario:
    """A ``Scenario`` made in code rather than declared in a file."""
    if observe is None and invariant is None:
        raise TypeError("give observe= (a count to compare with expected=) or invariant= (or both)")
    if isinstance(expected, int):
        expected = _Fixed(expected)
    extra = {"expected": expected} if expected is not None else {}
    return Scenario(
        id=name or worker.__qualname__,
        title=(worker.__doc__ or worker.__qualname__).strip().splitlines()[0],
        expect=expect,
        build=build,
        worker=worker,
        observe=observe,
        check=invariant,
        lesson=(worker.__doc__ or "").strip(),
        **extra,
    )


def stress(
    worker: Callable[..., Any],
    *,
    build: Callable[..., Any],
    observe: Optional[Callable[..., int]] = None,
    expected: Expected = None,
    invariant: Optional[Callable[..., Optional[str]]] = None,
    processes: int = 2,
    ops: int = 1_000,
    trials: int = 3,
    start_method: Optional[str] = None,
    timeout: float = 30.0,
    name: Optional[str] = None,
) -> RunResult:
    """Run ``worker`` in ``processes`` real processes, ``trials`` times, and judge it.

    - ``build(share, processes, ops)`` makes the shared state and returns it as a dict;
      its names are what ``worker``, ``observe`` and ``invariant`` ask for.
    - ``worker(<shared names>, ops, index, processes)`` is your code, run in every process.
    - ``observe(<shared names>)`` returns a count, compared with ``expected`` (an int, or
      ``f(processes, ops)``; default ``processes * ops``).
    - ``invariant(<shared names>)`` returns ``None`` when your invariant holds, else a
      sentence saying what broke.

    The result has the fields of ``racecourse run --json``; ``result.ok`` is true when
    every trial was correct, and ``result.report()`` says what went wrong.
    """
    scenario = scenario_from(worker, build=build, observe=observe, expected=expected, invariant=invariant, name=name)
    scenario = replace(scenario, defaults=Defaults(processes=processes, ops=ops, trials=trials, timeout=timeout))
    return stress_runner.run(scenario, start_method=start_method)


def explore(
    worker: Callable[..., Any],
    *,
    build: Callable[..., Any],
    observe: Optional[Callable[..., int]] = None,
    expected: Expected = None,
    check: Optional[Callable[..., Optional[str]]] = None,
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
    """Run ``worker`` in ``processes`` real processes under control and explore its schedules.

    The functions are those of :func:`stress` (``check`` is the invariant). Every read,
    write, acquire and release of the shared objects ``build`` returns is a scheduling
    point, and ``racecourse.checkpoint(label)`` adds one anywhere. ``strategy`` is
    ``"exhaustive"`` (every interleaving, within ``budget``; ``reduction`` skips orders
    that only swap independent operations), ``"random"`` or ``"pct"`` (bug depth
    ``depth``), both seeded by ``seed``.

    The result has the fields of ``racecourse explore --json``; ``result.ok`` is false when
    some schedule broke the count or the invariant, and ``result.first_failure`` carries
    the schedule to replay (``.schedule``, ``.sized``), its outcome and ``.timeline()``.
    """
    scenario = scenario_from(worker, build=build, observe=observe, expected=expected, invariant=check, name=name)
    return _explore(
        scenario, processes=processes, ops=ops, strategy=strategy, budget=budget, seed=seed, depth=depth,
        reduction=reduction, start_method=start_method, timeout=timeout,
    )
