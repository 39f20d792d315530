"""Exploring a scenario's schedules with one strategy, and what the exploration found."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ..model import Expect, Grade, Graded, Scenario
from ..replay_command import replay_command
from ..results import no_race_possible, run_status, sizes
from ..verdicts import error_documented
from .engine import ControlError, Controller, Execution, Status, Step
from .schedule import ScheduleError
from .strategies import STRATEGIES, Exhaustive, pct_schedules, random_schedules, replay
from .timeline import timeline_svg, timeline_text

DEFAULT_BUDGET = {"exhaustive": 20_000, "random": 1_000, "pct": 1_000}

# Told after every complete schedule: the exploration so far, and for an exhaustive one an
# estimate of how many schedules remain (None where none can be computed).
Progress = Callable[["Exploration", Callable[[], Optional[int]]], None]


@dataclass
class ScheduleRun:
    """One schedule run to its end, for a person or a script: what ``racecourse.replay``
    returns; ``to_json()`` has the keys of ``racecourse replay --json``."""

    execution: Execution
    scenario: Scenario

    @property
    def start_method(self) -> str:
        return self.execution.start_method

    @property
    def schedule(self) -> str:
        return self.execution.schedule_text

    @property
    def sized(self) -> str:
        """The schedule with its sizes, ``2x1:0101``: replays on its own."""
        return self.execution.sized_schedule

    @property
    def outcome(self) -> str:
        return self.execution.outcome

    @property
    def ok(self) -> bool:
        """The count and the invariant came out right (no deadlock, no error)."""
        return self.execution.correct

    @property
    def deadlock(self) -> Optional[str]:
        return self.execution.deadlock

    @property
    def livelock(self) -> Optional[str]:
        """Who went round a loop that never ends, if the schedule ended in one."""
        return self.execution.livelock

    @property
    def steps(self) -> List[Step]:
        return self.execution.steps

    @property
    def replay_command(self) -> str:
        """A shell command that runs this schedule again and prints its timeline."""
        return replay_command(self.scenario, self.sized, self.start_method)

    def timeline(self, colour: bool = False) -> str:
        return timeline_text(self.execution, self.scenario.id, self.start_method, colour=colour)

    def svg(self) -> str:
        return timeline_svg(self.execution, self.scenario.id, self.start_method)

    def to_json(self) -> Dict[str, Any]:
        return {
            "scenario": self.scenario.id,
            "schedule": self.schedule,
            "outcome": self.outcome,
            "ok": self.ok,
            "steps": [step.to_json(number) for number, step in enumerate(self.steps, 1)],
            "deadlock": self.deadlock,
            "livelock": self.livelock,
            "start_method": self.start_method,
            "processes": self.execution.processes,
            "ops": self.execution.ops,
        }


class FailingSchedule(ScheduleRun):
    """The simplest failing schedule (fewest context switches) an exploration met for one
    failing outcome, ready to replay."""

    def to_json(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"schedule": self.schedule, "outcome": self.outcome, "sized": self.sized,
                                "replay": self.replay_command}
        if self.deadlock:
            data["deadlock"] = self.deadlock
        if self.livelock:
            data["livelock"] = self.livelock
        return data


# The name this class had before racecourse.Failure (a trial that did not complete) and
# it were told apart; kept so that code importing it keeps working.
Failure = FailingSchedule


def context_switches(schedule: Sequence[int]) -> int:
    """How often a schedule passes from one process to another: the fewer, the simpler."""
    return sum(1 for before, after in zip(schedule, schedule[1:]) if before != after)


@dataclass
class Exploration:
    """What ``racecourse explore`` reports; ``to_json()`` has the documented keys."""

    scenario: Scenario
    strategy: str
    start_method: str
    processes: int
    ops: int
    budget: int
    seed: int
    reduction: bool = False
    schedules: int = 0
    complete: bool = False
    pruned: int = 0
    outcomes: Dict[str, int] = field(default_factory=dict)
    # Scenarios that grade their outcomes: each outcome's declared kind.
    grades: Dict[str, Graded] = field(default_factory=dict)
    failing: int = 0
    deadlocks: int = 0
    livelocks: int = 0
    errors: int = 0
    first_failure: Optional[FailingSchedule] = None
    failures: List[FailingSchedule] = field(default_factory=list)  # one per distinct failing outcome, simplest first
    seconds: float = 0.0

    @property
    def expect(self) -> Expect:
        return self.scenario.expect.under(self.start_method)

    @property
    def ok(self) -> bool:
        """The scenario behaved within its declaration: a safe one never failed, and no
        worker raised an error it does not document."""
        return not self.errors and not (self.expect is Expect.SAFE and self.failing)

    @property
    def exit_status(self) -> int:
        broken = self.expect is Expect.SAFE and bool(self.failing) or bool(self.forbidden)
        return run_status(False, bool(self.errors), broken)

    @property
    def forbidden(self) -> Dict[str, int]:
        """Outcomes the scenario declares forbidden, with the schedules that reached them."""
        return {outcome: self.outcomes.get(outcome, 0) for outcome, kind in self.grades.items()
                if kind.grade is Grade.FORBIDDEN}

    def verdict(self) -> str:
        size = f"{self.schedules:,} schedule{'s' if self.schedules != 1 else ''}"
        if self.complete:
            scope = "every order of dependent operations" if self.reduction else "every interleaving"
        else:
            scope = "budget reached before the end" if self.strategy == "exhaustive" else "sampled"
        if not self.failing:
            idle = no_race_possible(self.processes, self.ops) if self.expect is not Expect.SAFE else None
            return f"no failing schedule in {size} ({scope}): {idle}" if idle else f"no failing schedule in {size} ({scope})"
        found = f"{self.failing:,} of {size} went wrong ({scope})"
        if self.deadlocks:
            found += f", {self.deadlocks:,} deadlocked"
        if self.livelocks:
            found += f", {self.livelocks:,} went round a loop for ever"
        forbidden = self.forbidden
        if forbidden:
            outcome, count = next(iter(forbidden.items()))
            found = (f"FORBIDDEN outcome in {sum(forbidden.values()):,} of {size}: {outcome} "
                     f"({self.grades[outcome].description}); {found}")
        return found

    def report(self) -> str:
        """What the exploration found, for a person: the verdict and, when a schedule went
        wrong, the simplest one, the command that replays it, and its timeline."""
        lines = [f"{self.scenario.id} ({self.start_method}, {sizes(self.processes, self.ops)}, "
                 f"{self.strategy} exploration): {self.verdict()}"]
        lines.append("outcomes: " + "; ".join(f"{outcome} ({count:,}){self._graded(outcome)}"
                                              for outcome, count in self.outcomes.items()))
        failure = self.first_failure
        if failure is not None:
            lines.append(f"minimal failing schedule: {failure.schedule} (fewest context switches): {failure.outcome}")
            lines.append(f"replay: {failure.replay_command}")
            for process, (summary, trace) in sorted(failure.execution.errors.items()):
                lines.append(f"process {process} raised {summary}")
                lines.extend("    " + line for line in trace.rstrip().splitlines())
            lines.extend(["", failure.timeline()])
        if len(self.failures) > 1:
            lines.append("")
            lines.extend(failure_list(self.failures))
        return "\n".join(lines)

    def _graded(self, outcome: str) -> str:
        kind = self.grades.get(outcome)
        return f" [{kind.grade.value}: {kind.description}]" if kind is not None else ""

    def to_json(self) -> Dict[str, Any]:
        graded = ({"grades": {outcome: {"grade": kind.grade.value, "meaning": kind.description}
                              for outcome, kind in self.grades.items()}} if self.grades else {})
        return {
            **graded,
            "scenario": self.scenario.id,
            "strategy": self.strategy,
            "schedules": self.schedules,
            "complete": self.complete,
            "outcomes": dict(self.outcomes),
            "failing": self.failing,
            "deadlocks": self.deadlocks,
            "livelocks": self.livelocks,
            "first_failure": self.first_failure.to_json() if self.first_failure else None,
            "failures": [failure.to_json() for failure in self.failures],
            "start_method": self.start_method,
            "processes": self.processes,
            "ops": self.ops,
            "expect": self.expect.value,
            "reduction": self.reduction,
            "pruned": self.pruned,
            "errors": self.errors,
            "budget": self.budget,
            "seed": self.seed,
            "seconds": round(self.seconds, 6),
            "ok": self.ok,
        }


def explore(
    scenario: Scenario,
    *,
    processes: int = 2,
    ops: int = 1,
    strategy: str = "exhaustive",
    budget: Optional[int] = None,
    seed: int = 0,
    depth: int = 3,
    reduction: bool = True,
    start_method: Optional[str] = None,
    timeout: float = 10.0,
    progress: Optional[Progress] = None,
    controller: Optional[Controller] = None,
) -> Exploration:
    """Explore ``scenario``'s schedules at one size with one strategy.

    ``budget`` caps the complete schedules run (default: 20,000 exhaustive, 1,000 random
    or pct; the schedules that sleep sets prune on the way are counted apart, as ``pruned``);
    ``reduction`` (exhaustive only) skips reorderings of independent operations. Pass a
    ``controller`` to reuse running workers (its sizes win).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    cap = DEFAULT_BUDGET[strategy] if budget is None else budget
    owned = controller is None
    active = controller or Controller(scenario, processes, ops, start_method, timeout)
    result = Exploration(scenario, strategy, active.start_method, active.processes, active.ops, cap, seed,
                         reduction=reduction and strategy == "exhaustive")
    started = time.monotonic()
    outcomes: Dict[str, int] = collections.Counter()
    try:
        exhaustive: Optional[Exhaustive] = None
        executions: Iterator[Execution]
        if strategy == "exhaustive":
            exhaustive = Exhaustive(reduction=result.reduction)
            executions = exhaustive.executions(active, cap)
        elif strategy == "random":
            executions = random_schedules(active, cap, seed)
        else:
            executions = pct_schedules(active, cap, seed, depth)
        simplest = _Simplest()
        remaining = exhaustive.remaining if exhaustive is not None else _unknown
        for execution in executions:
            result.schedules += 1
            outcomes[execution.outcome] += 1
            if scenario.outcomes and execution.outcome not in result.grades and execution.status is Status.DONE:
                kind = scenario.grade(execution.observed, execution.expected, execution.violation,
                                      active.processes, active.ops)
                if kind is not None:
                    result.grades[execution.outcome] = kind
            if not execution.correct:
                result.failing += 1
                result.deadlocks += execution.status is Status.DEADLOCK
                result.livelocks += execution.status is Status.LIVELOCK
                result.errors += bool(execution.errors) and not error_documented(scenario, execution.correct)
                simplest.offer(execution, result.schedules)
            if progress is not None:
                progress(result, remaining)
        if exhaustive is not None:
            result.complete = exhaustive.complete
            result.pruned = exhaustive.pruned
        result.failures = [FailingSchedule(_replayed(active, execution), scenario)
                           for execution in simplest.executions()]
        result.first_failure = result.failures[0] if result.failures else None
    finally:
        result.seconds = time.monotonic() - started
        result.outcomes = dict(sorted(outcomes.items(), key=lambda item: (-item[1], item[0])))
        if owned:
            active.close()
    return result


class _Simplest:
    """For each distinct failing outcome (each distinct deadlock or livelock), the schedule with the
    fewest context switches; the first met wins a tie."""

    def __init__(self) -> None:
        self.best: Dict[str, Tuple[int, int, Execution]] = {}  # outcome -> (switches, order met, execution)

    def offer(self, execution: Execution, number: int) -> None:
        outcome = execution.deadlock or execution.loop or execution.outcome
        switches = context_switches(execution.schedule)
        kept = self.best.get(outcome)
        if kept is None or switches < kept[0]:
            self.best[outcome] = (switches, number, execution)

    def executions(self) -> List[Execution]:
        """Simplest first: the first is the simplest failing schedule of all."""
        return [execution for _, _, execution in sorted(self.best.values(), key=lambda kept: kept[:2])]


def _replayed(controller: Controller, execution: Execution) -> Execution:
    """Run a failing schedule once more, recording the state after every step for the
    timeline; the same outcome again is the controlled runner's promise."""
    unseen = "the worker does something racecourse does not see"
    try:
        again = replay(controller, execution.schedule, execution.schedule_text)
    except ScheduleError as error:  # the run took another path this time
        raise ControlError(f"schedule {execution.schedule_text} gave {execution.outcome!r}, then on replay: "
                           f"{error}; {unseen}") from None
    if again.outcome != execution.outcome:
        raise ControlError(f"schedule {execution.schedule_text} gave {execution.outcome!r}, "
                           f"then {again.outcome!r} on replay: {unseen}")
    return again


def failure_list(failures: List[FailingSchedule]) -> List[str]:
    """One line per failing outcome with its simplest schedule and the command that replays it."""
    lines = [f"failing outcomes ({len(failures)}), the simplest schedule of each:"]
    for failure in failures:
        what = (f"deadlock ({failure.deadlock})" if failure.deadlock
                else f"livelock ({failure.livelock})" if failure.livelock else failure.outcome)
        lines.append(f"  {what}: {failure.schedule}  ({failure.replay_command})")
    return lines


def _unknown() -> Optional[int]:
    return None
