"""What a scenario declares.

A scenario is a lesson with a worker in it. It says how its shared state is built for a
given number of processes and operations, what each worker does with it, what the parent
reads back afterwards, and what the right answer is. The runners decide how to run it:
the stress runner with real processes and natural scheduling, the controlled runner one
visible operation at a time.

Two shapes exist:

* a *worker* scenario: N processes each call ``worker`` (the common case);
* a *program* scenario: the parent runs ``program`` itself, which drives a Pool or a
  child process the way a user's script would.
"""

from __future__ import annotations

import enum
import functools
import inspect
import pickle
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Type

from .errors import RacecourseError

Shared = Dict[str, Any]


class Expect(enum.Enum):
    """What a scenario promises to do."""

    RACY = "racy"  # may lose updates or break its invariant: that is the lesson
    SAFE = "safe"  # must always be exact
    ERROR = "error"  # must raise a documented error
    FORK_ONLY = "fork-only"  # safe under fork, racy under spawn and forkserver
    DEADLOCK = "deadlock"  # may hang forever; stress reports a timeout

    def under(self, start_method: str) -> "Expect":
        """The expectation that applies under one start method."""
        if self is Expect.FORK_ONLY:
            return Expect.SAFE if start_method == "fork" else Expect.RACY
        return self


@dataclass(frozen=True)
class Defaults:
    """Options that make a scenario demonstrate its lesson on a 2-core machine. Unset, they
    are the sizes of code given as functions too: 2 processes x 1,000 ops, 3 trials, 30 s."""

    processes: int = 2
    ops: int = 1_000
    trials: int = 3
    timeout: float = 30.0


def _product(processes: int, ops: int) -> int:
    return processes * ops


class FixedCount:
    """An expected count that does not depend on the sizes (picklable, unlike a lambda)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __call__(self, processes: int, ops: int) -> int:
        return self.value

    def __repr__(self) -> str:
        return repr(self.value)


# What a scenario's observe() can return (Scenario.observes).
OBSERVES = ("count", "value")


class Grade(enum.Enum):
    """What one outcome means, as jcstress grades them."""

    ACCEPTABLE = "acceptable"  # what correct code gives
    INTERESTING = "interesting"  # allowed, and worth a note: a racy counter's lost update
    FORBIDDEN = "forbidden"  # must never happen: it fails the run


@dataclass(frozen=True)
class Graded:
    """One kind of outcome a scenario declares, with its grade and a one-line description.

    ``when`` receives, by name as the scenario's functions do, any of ``observed`` (the
    count or value, counter scenarios), ``expected``, ``violation`` (what check() said
    broke, or None), ``processes`` and ``ops``, and says whether an outcome is of this kind.
    """

    grade: Grade
    description: str
    when: Callable[..., bool]

    def matches(self, facts: Mapping[str, Any]) -> bool:
        return bool(call_with(self.when, facts))


def Acceptable(description: str, when: Callable[..., bool]) -> Graded:  # noqa: N802 (reads as a declaration)
    return Graded(Grade.ACCEPTABLE, description, when)


def Interesting(description: str, when: Callable[..., bool]) -> Graded:  # noqa: N802
    return Graded(Grade.INTERESTING, description, when)


def Forbidden(description: str, when: Callable[..., bool]) -> Graded:  # noqa: N802
    return Graded(Grade.FORBIDDEN, description, when)


# An outcome no declared kind matches: a scenario that grades its outcomes names every
# outcome it allows, so anything else is forbidden (as in jcstress).
UNDECLARED = Graded(Grade.FORBIDDEN, "an outcome the scenario does not declare", lambda: True)


@dataclass(frozen=True)
class Scenario:
    """One entry of the catalogue.

    Callables receive their arguments by name, as pytest fixtures do: ``share`` and the
    sizes for ``build``; the shared objects plus ``ops``, ``index`` and ``processes`` for
    ``worker``; the shared objects for ``observe`` and ``check``. A function asks only for
    what it uses, so a lesson reads as plain code: ``def worker(counter, ops): ...``.
    """

    id: str
    title: str
    expect: Expect
    build: Callable[..., Shared]
    worker: Optional[Callable[..., Any]] = None
    program: Optional[Callable[..., Any]] = None
    # Counter scenarios: observe() reads the count, expected() says what it should be.
    observe: Optional[Callable[..., int]] = None
    expected: Callable[[int, int], int] = _product
    # What one unit of the count is, in the verdict: "lost 3 of 10 updates", "... bytes".
    unit: str = "updates"
    # What observe() returns: "count", a number of updates (a shortfall is lost updates),
    # or "value", any other number (a setting, a result): wrong is "observed X, expected Y".
    observes: str = "count"
    # Invariant scenarios: check() returns None when it holds, else what broke.
    check: Optional[Callable[..., Optional[str]]] = None
    # Error scenarios: the exception type the lesson documents.
    raises: Optional[Type[BaseException]] = None
    defaults: Defaults = field(default_factory=Defaults)
    # Optional jcstress-style grades: each kind of outcome, acceptable, interesting or
    # forbidden, with a one-line description; reports print them, a forbidden one fails.
    outcomes: Tuple[Graded, ...] = ()
    # Filled in by the catalogue from the module that declares the scenario.
    lesson: str = ""
    module: str = ""
    path: Optional[str] = None
    attribute: str = "SCENARIO"

    def __post_init__(self) -> None:
        if (self.worker is None) == (self.program is None):
            raise ValueError(f"scenario {self.id!r}: give exactly one of worker= or program=")
        if self.expect is Expect.ERROR and self.raises is None:
            raise ValueError(f"scenario {self.id!r}: an error scenario names what it raises")
        if self.expect is not Expect.ERROR and self.observe is None and self.check is None:
            raise ValueError(f"scenario {self.id!r}: give observe= (a count) or check= (an invariant)")
        if self.observes not in OBSERVES:
            raise ValueError(f"scenario {self.id!r}: observes= is one of {', '.join(OBSERVES)}, not {self.observes!r}")

    def grade(self, observed: Optional[int], expected: Optional[int], violation: Optional[str],
              processes: int, ops: int) -> Optional[Graded]:
        """The declared kind of one outcome (UNDECLARED when none matches), or None for a
        scenario that grades nothing."""
        if not self.outcomes:
            return None
        facts = {"observed": observed, "expected": expected, "violation": violation, "processes": processes, "ops": ops}
        return next((kind for kind in self.outcomes if kind.matches(facts)), UNDECLARED)

    @property
    def is_counter(self) -> bool:
        """observe() returns a number to compare with expected (a count or a value)."""
        return self.observe is not None

    @property
    def counts_updates(self) -> bool:
        """observe() counts updates: a shortfall means lost updates, an excess extra ones."""
        return self.observe is not None and self.observes == "count"

    @property
    def ref(self) -> Tuple[str, Optional[str], str]:
        """How a child process finds this scenario again: (module, file path, attribute)."""
        return (self.module, self.path, self.attribute)

    @property
    def child_target(self) -> Any:
        """What a worker process is handed to find its worker: the catalogue reference of a
        declared scenario, or, for one made in code (the public API), the worker function
        itself, which spawn and forkserver pickle by module and name."""
        return self.ref if self.module else self.worker


class NotImportable(RacecourseError, TypeError):
    """A worker that a spawn or forkserver child cannot import by name (a lambda, a
    nested function): refused before any process starts."""


def check_importable_worker(scenario: Scenario, start_method: str) -> None:
    """Refuse, up front, a worker that a fresh child process could not receive.

    A scenario a module declares reaches the child by (module, file, attribute), so any
    worker works; one made in code (the public API) sends its worker itself, which spawn
    and forkserver pickle by module and name. fork copies the parent and pickles nothing."""
    if scenario.module or start_method == "fork" or scenario.worker is None:
        return
    try:
        pickle.dumps(scenario.worker)
    except (pickle.PicklingError, AttributeError, TypeError):
        name = getattr(scenario.worker, "__qualname__", repr(scenario.worker))
        raise NotImportable(
            f"workers must be module-level functions: {name} cannot be imported by a {start_method} "
            "child process (define it at the top level of its module)"
        ) from None


def call_with(function: Callable[..., Any], available: Mapping[str, Any]) -> Any:
    """Call ``function`` with the subset of ``available`` that its signature names."""
    return bound_call(function, available)()


def bound_call(function: Callable[..., Any], available: Mapping[str, Any]) -> Callable[[], Any]:
    """``function`` with the subset of ``available`` that its signature names bound to it:
    a call that can be repeated without inspecting the signature again (fast trials)."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return functools.partial(function, **available)
    missing = [
        name
        for name, p in parameters.items()
        if name not in available and p.default is p.empty and p.kind is not p.VAR_POSITIONAL
    ]
    if missing:
        raise TypeError(
            f"{function.__qualname__}() asks for {', '.join(missing)}, "
            f"but only {', '.join(sorted(available))} exist"
        )
    return functools.partial(function, **{name: available[name] for name in parameters if name in available})
