"""The same schedule under every start method, and why the outcomes differ.

``racecourse diff ID`` answers the question a maintainer hit by Python 3.14's switch from
fork to forkserver asks: *why* does my code work under one start method and fail under
another? It runs one schedule (the scenario's minimal failing one, found by exhaustive
exploration, or one the user gives) under each start method with the controlled
scheduler, so the only thing that changes between the runs is the start method, and
compares what happened step by step. The first step that differs says *where*; the
provenance of the objects the worker uses (racecourse.provenance) says *why*: an object
that every process shared under one method and that each child re-created for itself
under another.

Where the controlled scheduler cannot run a scenario (a program scenario with its own
Pool, a primitive it does not control), each method gets an ordinary stress run instead,
and the verdicts are compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from . import provenance, stress_runner
from .control.engine import Controller, refuse_uncontrollable
from .control.exploration import explore
from .control.instrument import Uncontrollable
from .control.schedule import ScheduleError, parse_schedule
from .control.strategies import replay
from .model import Scenario

CONTROL = "control"
STRESS = "stress"


@dataclass
class MethodOutcome:
    """What one start method made of the schedule (or of a stress run)."""

    start_method: str
    outcome: Optional[str]  # None: the schedule could not be followed under this method
    ok: Optional[bool]
    note: str = ""  # the stress run's verdict, or what every schedule came to
    steps: List[str] = field(default_factory=list)  # "process 0: acquire LOCK", in order
    stuck: str = ""  # why the schedule could not be followed under this method ("step 3 names ...")

    def __post_init__(self) -> None:
        if self.stuck:
            self.note = f"cannot follow it: {self.stuck}"

    def to_json(self) -> Dict[str, Any]:
        return {"start_method": self.start_method, "outcome": self.outcome, "ok": self.ok,
                "followed": not self.stuck, "note": self.note}


@dataclass
class Differential:
    scenario: Scenario
    mode: str  # CONTROL or STRESS
    schedule: Optional[str]  # sized, "2x1:0110" (control); None for stress
    methods: List[MethodOutcome]
    why: List[str]
    first_difference: Optional[str]

    @property
    def same(self) -> bool:
        """Every start method came to the same outcome (and followed the schedule)."""
        return len({(m.outcome, m.ok, m.stuck) for m in self.methods}) <= 1

    @property
    def exit_status(self) -> int:
        """0: the start methods agree; 1: they differ (as diff(1) does)."""
        return 0 if self.same else 1

    def to_json(self) -> Dict[str, Any]:
        return {"scenario": self.scenario.id, "mode": self.mode, "schedule": self.schedule,
                "methods": [method.to_json() for method in self.methods], "same": self.same,
                "first_difference": self.first_difference, "why": self.why, "exit_status": self.exit_status}


def _controllable(scenario: Scenario) -> bool:
    try:
        refuse_uncontrollable(scenario)
    except Uncontrollable:
        return False
    return True


def minimal_failing_schedule(scenario: Scenario, start_methods: Sequence[str], processes: int, ops: int,
                             timeout: float) -> Optional[str]:
    """The simplest failing schedule (fewest context switches) of the first method under
    which an exhaustive exploration finds one; None when none fails under any."""
    for method in start_methods:
        found = explore(scenario, processes=processes, ops=ops, start_method=method, timeout=timeout)
        if found.first_failure is not None:
            return found.first_failure.sized
    return None


def _follow(scenario: Scenario, method: str, schedule: str, timeout: float) -> MethodOutcome:
    sized = parse_schedule(schedule)
    processes, ops = sized.processes or 2, sized.ops or 1
    with Controller(scenario, processes, ops, method, timeout) as controller:
        try:
            execution = replay(controller, sized.steps, schedule)
        except ScheduleError as error:
            # "schedule '2x1:0011': step 3 names process 1, but ...": the schedule is said already.
            said = re.sub(r"^schedule '[^']*': ", "", str(error))
            return MethodOutcome(method, None, None, stuck=said)
    steps = [f"process {step.process}: {step.describe()}" for step in execution.steps]
    return MethodOutcome(method, execution.outcome, execution.correct, steps=steps)


def _first_difference(methods: Sequence[MethodOutcome]) -> Optional[str]:
    """Where the runs part: the first step at which two methods did different things, or
    the step a method could not take."""
    if not methods:
        return None
    unfollowed = [m for m in methods if m.stuck]
    followed = [m for m in methods if not m.stuck]
    if unfollowed and followed:
        stuck, ran = unfollowed[0], followed[0]
        said = f"under {stuck.start_method}, {stuck.stuck}"
        where = re.match(r"step (\d+) ", stuck.stuck)
        if where and int(where.group(1)) <= len(ran.steps):
            return f"{said}; under {ran.start_method}, step {where.group(1)} ran: {ran.steps[int(where.group(1)) - 1]}"
        return f"{said}; under {ran.start_method} every step ran"
    for number, steps in enumerate(zip(*(m.steps for m in followed)), 1):
        if len(set(steps)) > 1:
            parts = "; ".join(f"under {m.start_method}, {step}" for m, step in zip(followed, steps))
            return f"step {number}: {parts}"
    return None


def differential(scenario: Scenario, start_methods: Sequence[str], *, schedule: Optional[str] = None,
                 processes: int = 2, ops: int = 1, timeout: float = 10.0) -> Differential:
    """Run one schedule (``schedule``, or the minimal failing one) under each start method
    and explain the first difference; a stress run per method where control cannot run."""
    try:
        why = provenance.why_methods_differ(provenance.probe_methods(scenario, start_methods, processes))
    except provenance.NotAWorkerScenario:  # a program whose processes racecourse cannot follow
        why = []
    if not _controllable(scenario):
        if schedule is not None:
            raise Uncontrollable(f"{scenario.id} cannot run under control, so it has no schedules: drop --schedule "
                                 "to compare stress runs instead")
        runs = [stress_runner.run(scenario, start_method=method) for method in start_methods]
        methods = [MethodOutcome(run.start_method, "every trial exact" if _exact(run) else "some trial went wrong",
                                 _exact(run), note=run.verdict()) for run in runs]
        return Differential(scenario, STRESS, None, methods, why, None)
    chosen = schedule or minimal_failing_schedule(scenario, start_methods, processes, ops, timeout)
    if chosen is None:
        methods = [MethodOutcome(method, "no failing schedule", True,
                                 note=f"every schedule at {processes}x{ops} came out right")
                   for method in start_methods]
        return Differential(scenario, CONTROL, None, methods, why, None)
    methods = [_follow(scenario, method, chosen, timeout) for method in start_methods]
    return Differential(scenario, CONTROL, chosen, methods, why, _first_difference(methods))


def _exact(run: Any) -> bool:
    return not any(trial.raced or trial.failure is not None for trial in run.trials)
