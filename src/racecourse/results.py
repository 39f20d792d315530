"""What a run found: per-trial figures, the verdict, and the JSON that scripts read."""

from __future__ import annotations

import enum
import platform
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from .model import Expect, Grade, Graded, Scenario

# What a run found, as the exit status its JSON reports and the command line exits with.
# Statuses that belong to the command line alone (bad usage, an unreachable server, a
# SIGTERM) are in ``cli.status``.
EXIT_OK = 0  # every scenario behaved within its declaration
EXIT_BROKEN = 1  # a scenario declared safe lost an update or broke its invariant
EXIT_FAILED = 3  # a run did not complete: a worker raised, was killed, or timed out
EXIT_INTERRUPTED = 130  # Ctrl-C


def run_status(interrupted: bool, failed: bool, broken: bool) -> int:
    """The exit status of a run: interrupted first, then failures, then a broken promise."""
    if interrupted:
        return EXIT_INTERRUPTED
    if failed:
        return EXIT_FAILED
    if broken:
        return EXIT_BROKEN
    return EXIT_OK


def sizes(processes: int, ops: int) -> str:
    """'1 process x 1 op', '2 processes x 1,000 ops': the size of a run, in words."""
    return (f"{processes} process{'es' if processes != 1 else ''} x "
            f"{ops:,} op{'s' if ops != 1 else ''}")


def no_race_possible(processes: int, ops: int) -> Optional[str]:
    """Why a run of this size cannot show a race at all, or None when it can: the advice
    to try more --ops or --trials would mislead there."""
    if ops == 0:
        return "with --ops 0 the workers did nothing, so nothing could race"
    if processes == 1:
        return "one process cannot race with itself: give --processes 2 or more"
    return None


class FailureKind(str, enum.Enum):
    """How a trial failed to complete. A str, so that ``kind == "timeout"`` holds."""

    EXCEPTION = "exception"  # a process raised
    SIGNAL = "signal"  # a process was killed by a signal
    EXIT = "exit"  # a process exited without reporting
    TIMEOUT = "timeout"  # the trial did not end in time

    def __str__(self) -> str:
        return self.value


@dataclass
class Failure:
    """A trial that did not complete: which process, and what happened to it."""

    kind: Union[FailureKind, str]  # a FailureKind once made (its value is accepted)
    message: str
    process: Optional[int] = None  # worker index, None for the parent
    traceback: str = ""
    exception_type: str = ""
    who: str = ""  # a process other than a worker or the parent, e.g. a Manager server

    def __post_init__(self) -> None:
        self.kind = FailureKind(self.kind)

    @property
    def origin(self) -> str:
        """Which process: "worker 2", "the parent", "the Manager server (pid 1234)"."""
        return self.who or ("the parent" if self.process is None else f"worker {self.process}")

    def describe(self) -> str:
        return f"{self.origin}: {self.message}"


@dataclass
class TrialResult:
    expected: Optional[int]
    observed: Optional[int]
    lost: Optional[int]
    ok: bool
    seconds: float
    violation: Optional[str] = None
    failure: Optional[Failure] = None

    @property
    def raced(self) -> bool:
        """The race showed: the count or value came out wrong, or the invariant broke."""
        wrong = self.expected is not None and self.observed is not None and self.observed != self.expected
        return wrong or self.violation is not None

    def to_json(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {
            "expected": self.expected,
            "observed": self.observed,
            "lost": self.lost,
            "ok": self.ok,
            "seconds": round(self.seconds, 6),
        }
        if self.violation is not None:
            data["violation"] = self.violation
        if self.failure is not None:
            data["failure"] = _failure_json(self.failure)
        return data


class _Judged:
    """The exit status of a run, from what it declares: interrupted, failures, broken."""

    interrupted: bool

    @property
    def failures(self) -> List[Failure]:
        raise NotImplementedError

    @property
    def broken(self) -> bool:
        raise NotImplementedError

    @property
    def exit_status(self) -> int:
        return run_status(self.interrupted, bool(self.failures), self.broken)

    @property
    def ok(self) -> bool:
        """Every trial completed and was within the scenario's declaration."""
        return self.exit_status == EXIT_OK


@dataclass
class RunResult(_Judged):
    scenario: Scenario
    start_method: str
    processes: int
    ops: int
    trials: List[TrialResult] = field(default_factory=list)
    interrupted: bool = False
    # The whole run: starting and stopping processes, building and reading the state. A
    # trial's ``seconds`` count only the race, from the first worker past the start line to
    # the last worker done.
    wall_seconds: float = 0.0
    requested: int = 0  # the trials asked for: more than ``trials`` holds when interrupted

    @property
    def expect(self) -> Expect:
        """The expectation under this run's start method (fork-only resolves here)."""
        return self.scenario.expect.under(self.start_method)

    @property
    def failures(self) -> List[Failure]:
        return [t.failure for t in self.trials if t.failure is not None and not t.ok]

    @property
    def broken(self) -> bool:
        """A scenario that promised correctness (or an error) did not deliver it, or an
        outcome it declares forbidden happened."""
        return any(not t.ok and t.failure is None for t in self.trials) or bool(self.forbidden)

    def grade_of(self, trial: TrialResult) -> Optional[Graded]:
        """The declared kind of a completed trial's outcome (None: the scenario grades nothing)."""
        if trial.failure is not None:
            return None
        return self.scenario.grade(trial.observed, trial.expected, trial.violation, self.processes, self.ops)

    @property
    def forbidden(self) -> List[Tuple[int, TrialResult, Graded]]:
        """(trial number, trial, its kind) of every trial whose outcome is forbidden."""
        found = []
        for number, trial in enumerate(self.trials, 1):
            kind = self.grade_of(trial)
            if kind is not None and kind.grade is Grade.FORBIDDEN:
                found.append((number, trial, kind))
        return found

    def report(self) -> str:
        """What happened, for a person: the verdict, then each bad trial and traceback."""
        lines = [f"{self.scenario.id} ({self.start_method}, {sizes(self.processes, self.ops)}): {self.verdict()}"]
        for number, trial in enumerate(self.trials, 1):
            if trial.ok:
                continue
            if trial.failure is not None:
                lines.append(f"  trial {number}: {trial.failure.describe()}")
                lines.extend("    " + line for line in trial.failure.traceback.rstrip().splitlines())
            elif trial.violation is not None:
                lines.append(f"  trial {number}: invariant broken: {trial.violation}")
            elif trial.lost is not None:
                lines.append(f"  trial {number}: expected {trial.expected}, observed {trial.observed} (lost {trial.lost})")
            else:
                lines.append(f"  trial {number}: observed {trial.observed}, expected {trial.expected}")
        return "\n".join(lines)

    @property
    def lost(self) -> int:
        return sum(t.lost or 0 for t in self.trials)

    @property
    def expected_total(self) -> int:
        return sum(t.expected or 0 for t in self.trials)

    def verdict(self) -> str:
        """One plain-language sentence about what happened."""
        if self.interrupted:
            done = f"{len(self.trials)} of {self.requested or len(self.trials)} trials"
            return f"interrupted after {done}: {self._verdict()}" if self.trials else "interrupted"
        return self._verdict()

    def _verdict(self) -> str:
        if self.failures:
            return "did not complete: " + self.failures[0].describe()
        forbidden = self.forbidden
        if forbidden:
            number, trial, kind = forbidden[0]
            seen = trial.violation if trial.violation is not None else f"observed {trial.observed}"
            return f"FORBIDDEN outcome in {len(forbidden)} of {len(self.trials)} trials: {seen} ({kind.description})"
        n = len(self.trials)
        expect = self.expect
        if expect is Expect.ERROR:
            if all(t.ok for t in self.trials):
                name = self.scenario.raises.__name__ if self.scenario.raises else "the error"
                return f"raised {name} as documented, in {n} of {n} trials"
            return "did NOT raise the documented error"
        idle = no_race_possible(self.processes, self.ops)
        if expect is Expect.DEADLOCK:
            stuck = sum(1 for t in self.trials if t.violation)
            if not stuck and idle:
                return f"no deadlock in {n} of {n} trials: {idle.replace('race', 'deadlock')}"
            return f"deadlocked in {stuck} of {n} trials (stopped by the timeout)"
        if self.scenario.counts_updates:
            return self._counter_verdict()
        if self.scenario.is_counter:
            return self._value_verdict()
        broken = [t for t in self.trials if t.violation]
        if broken:
            return f"invariant broken in {len(broken)} of {n} trials: {broken[0].violation}"
        if expect is Expect.RACY and idle:
            return f"invariant held in {n} of {n} trials: {idle}"
        return f"invariant held in {n} of {n} trials"

    def _counter_verdict(self) -> str:
        expected, lost, unit = self.expected_total, self.lost, self.scenario.unit
        made = self.processes * self.ops * len(self.trials)
        if expected == 0 and made:
            observed = sum(t.observed or 0 for t in self.trials)
            if observed == 0:
                return f"the parent sees 0 after {made:,} increments in the children: nothing was shared"
        if lost > 0:
            share = 100.0 * lost / expected if expected else 0.0
            return f"lost {lost:,} of {expected:,} {unit} ({share:.1f}%)"
        if lost < 0:
            return f"counted {-lost:,} MORE than the {expected:,} {unit} made"
        if self.expect is Expect.RACY:
            idle = no_race_possible(self.processes, self.ops)
            if idle:
                return f"no update lost ({expected:,} of {expected:,}): {idle}"
            return f"no update lost this time ({expected:,} of {expected:,}); try more --ops or --trials"
        return f"exact: {expected:,} of {expected:,} {unit}"

    def _trial_json(self, trial: TrialResult) -> Dict[str, Any]:
        data = trial.to_json()
        kind = self.grade_of(trial)
        if kind is not None:
            data["grade"], data["meaning"] = kind.grade.value, kind.description
        return data

    def _value_verdict(self) -> str:
        """A value that is not a count (a setting, a result): what was seen against what was due."""
        n = len(self.trials)
        wrong = [t for t in self.trials if t.observed != t.expected]
        expected = self.trials[0].expected if self.trials else None
        if wrong:
            seen = ", ".join(dict.fromkeys(f"{t.observed:,}" for t in wrong if t.observed is not None))
            return f"observed {seen}, expected {wrong[0].expected:,} (wrong in {len(wrong)} of {n} trials)"
        same = f"observed {expected:,} as expected, in {n} of {n} trials" if expected is not None else "no trials"
        idle = no_race_possible(self.processes, self.ops)
        if self.expect is Expect.RACY and n:
            return same + (f": {idle}" if idle else "; try more --ops or --trials")
        return same

    def to_json(self) -> Dict[str, Any]:
        return {
            **_header(self.scenario, "stress", self.start_method, self.processes, self.ops),
            "trials": [self._trial_json(t) for t in self.trials],
            "verdict": self.verdict(),
            "exit_status": self.exit_status,
            **({"interrupted": True, "requested_trials": self.requested} if self.interrupted else {}),
        }


@dataclass
class Outcome:
    """One row of a fast run's histogram: an outcome and how many trials ended in it."""

    outcome: Union[int, str]  # the final count (counter scenarios) or "held" / what broke
    count: int
    ok: bool  # within the scenario's declaration
    lost: Optional[int] = None  # counter scenarios: expected - observed


INVARIANT_HELD = "held"


@dataclass
class FastRunResult(_Judged):
    """Many small trials on persistent workers, summed up as an outcome histogram.

    Individual trials are not kept: a run of 100,000 trials is its histogram, as in
    jcstress's outcome tables.
    """

    scenario: Scenario
    start_method: str
    processes: int
    ops: int
    expected: Optional[int]  # counter scenarios: the exact count of one trial
    counts: Dict[Union[int, str], int] = field(default_factory=dict)
    seconds: float = 0.0  # the whole run, worker start-up included
    trial_seconds: float = 0.0  # only the trials: reset, release, run, observe
    failure: Optional[Failure] = None
    requested: int = 0
    completed: int = 0  # trials completed before a failure stopped the run
    interrupted: bool = False  # Ctrl-C propagates out of fast_trials.run: no result is made

    @property
    def expect(self) -> Expect:
        return self.scenario.expect.under(self.start_method)

    @property
    def trial_count(self) -> int:
        return sum(self.counts.values())

    @property
    def trials_per_s(self) -> float:
        return self.trial_count / self.trial_seconds if self.trial_seconds > 0 else 0.0

    def _correct(self, outcome: Union[int, str]) -> bool:
        if self.scenario.is_counter:
            return outcome == self.expected
        return outcome == INVARIANT_HELD

    def histogram(self) -> List[Outcome]:
        """The outcomes, most frequent first."""
        rows = []
        for outcome, count in sorted(self.counts.items(), key=lambda item: (-item[1], str(item[0]))):
            correct = self._correct(outcome)
            counted = self.scenario.counts_updates and self.expected is not None and isinstance(outcome, int)
            lost = self.expected - outcome if counted and self.expected is not None and isinstance(outcome, int) else None
            rows.append(Outcome(outcome, count, correct or self.expect is not Expect.SAFE, lost))
        return rows

    @property
    def failures(self) -> List[Failure]:
        return [self.failure] if self.failure is not None else []

    @property
    def broken(self) -> bool:
        wrong = self.expect is Expect.SAFE and any(not self._correct(o) for o in self.counts)
        return wrong or any(kind.grade is Grade.FORBIDDEN for kind in self.grades().values())

    def grades(self) -> Dict[Union[int, str], Graded]:
        """The declared kind of each outcome seen (empty: the scenario grades nothing)."""
        if not self.scenario.outcomes:
            return {}
        found = {}
        for outcome in self.counts:
            observed = outcome if isinstance(outcome, int) else None
            violation = None if isinstance(outcome, int) or outcome == INVARIANT_HELD else outcome
            kind = self.scenario.grade(observed, self.expected, violation, self.processes, self.ops)
            if kind is not None:
                found[outcome] = kind
        return found

    def verdict(self) -> str:
        n = self.trial_count
        if self.failure is not None:
            return f"did not complete (after {self.completed:,} of {self.requested:,} trials): {self.failure.describe()}"
        forbidden = {outcome: kind for outcome, kind in self.grades().items() if kind.grade is Grade.FORBIDDEN}
        if forbidden:
            outcome, kind = next(iter(forbidden.items()))
            count = sum(self.counts[o] for o in forbidden)
            return f"FORBIDDEN outcome in {count:,} of {n:,} trials: {outcome} ({kind.description})"
        wrong = sum(count for outcome, count in self.counts.items() if not self._correct(outcome))
        share = 100.0 * wrong / n if n else 0.0
        if self.scenario.counts_updates:
            what = "lost an update"
        elif self.scenario.is_counter:
            what = f"observed a value other than the expected {self.expected:,}" if self.expected is not None else "wrong"
        else:
            what = "broke the invariant"
        if wrong:
            return f"{what} in {wrong:,} of {n:,} trials ({share:.2f}%)"
        if self.expect is Expect.RACY:
            idle = no_race_possible(self.processes, self.ops)
            return f"no race seen in {n:,} trials" + (f": {idle}" if idle else "; try more --trials or --ops")
        if self.scenario.counts_updates:
            return f"exact in {n:,} of {n:,} trials"
        if self.scenario.is_counter and self.expected is not None:
            return f"observed {self.expected:,} as expected, in {n:,} of {n:,} trials"
        return f"invariant held in {n:,} of {n:,} trials"

    def report(self) -> str:
        return f"{self.scenario.id} ({self.start_method}, {sizes(self.processes, self.ops)}, fast trials): {self.verdict()}"

    def to_json(self) -> Dict[str, Any]:
        n = self.trial_count
        histogram = []
        grades = self.grades()
        for row in self.histogram():
            entry: Dict[str, Any] = {"outcome": row.outcome, "count": row.count,
                                     "percent": round(100.0 * row.count / n, 4) if n else 0.0, "ok": row.ok}
            if row.lost is not None:
                entry["lost"] = row.lost
            kind = grades.get(row.outcome)
            if kind is not None:
                entry["grade"], entry["meaning"] = kind.grade.value, kind.description
            histogram.append(entry)
        data: Dict[str, Any] = {
            **_header(self.scenario, "fast", self.start_method, self.processes, self.ops),
            "expected": self.expected,
            "trial_count": n,
            "histogram": histogram,
            "seconds": round(self.seconds, 6),
            "trials_per_s": round(self.trials_per_s, 1),
            "verdict": self.verdict(),
            "exit_status": self.exit_status,
        }
        if self.failure is not None:
            data["failure"] = _failure_json(self.failure)
        return data


def _header(scenario: Scenario, mode: str, start_method: str, processes: int, ops: int) -> Dict[str, Any]:
    """What every run's JSON starts with: what ran, how, and on which interpreter."""
    return {
        "scenario": scenario.id,
        "mode": mode,
        "start_method": start_method,
        "processes": processes,
        "ops": ops,
        "expect": scenario.expect.value,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
    }


def _failure_json(failure: Failure) -> Dict[str, Any]:
    return {
        "kind": str(failure.kind),
        "process": failure.process,
        "who": failure.origin,
        "message": failure.message,
        "exception_type": failure.exception_type,
        "traceback": failure.traceback,
    }
