"""racecourse checks itself: what real runs observe must be what control can reach.

The controlled scheduler claims to see every operation a worker makes on shared state,
so every interleaving the operating system can produce is one of its schedules. That
claim can be tested against the operating system itself: run the scenario many times
with natural scheduling (fast trials, or the stress runner where fast trials cannot
run), and explore every schedule at the same size. Each outcome a real run observed
must be among the outcomes the exploration reached. One that is not means racecourse
missed something the worker does (shared state it does not see, a primitive it does not
control) and its explorations of that scenario cannot be trusted; the report says which
outcome, how often it was seen, and what exploration did reach.

The opposite direction is no error: exploration reaches rare interleavings that real
runs seldom or never hit at a given number of trials.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Union

from . import fast_trials, stress_runner
from .control.engine import Controller
from .control.strategies import Exhaustive
from .model import Scenario
from .results import INVARIANT_HELD

# A schedule budget that finishes the catalogue's scenarios at 2 x 1 and 2 x 2.
DEFAULT_BUDGET = 20_000
HOLDS = "the invariant holds"
# Real runs when none are asked for: fast trials cost microseconds each, stress trials
# start their processes (and a Manager server, say) every time.
DEFAULT_TRIALS = {"fast": 2_000, "stress": 20}


def outcome_key(observed: Optional[int], violation: Optional[str]) -> str:
    """One outcome, as both sides name it: the count or value observed, or what broke."""
    if violation is not None:
        return violation
    return HOLDS if observed is None else f"observed {observed}"


@dataclass
class CrossCheck:
    scenario: Scenario
    start_method: str
    processes: int
    ops: int
    mode: str  # "fast" or "stress": how the real runs were made
    trials: int
    observed: Dict[str, int] = field(default_factory=dict)  # outcome -> trials that ended so
    reachable: Dict[str, int] = field(default_factory=dict)  # outcome -> schedules that end so
    schedules: int = 0
    complete: bool = False
    failure: Optional[str] = None  # a real run did not complete (a timeout, a crash)

    @property
    def unreachable(self) -> Dict[str, int]:
        """Outcomes real runs observed that no schedule reaches: what racecourse missed."""
        return {outcome: count for outcome, count in self.observed.items() if outcome not in self.reachable}

    @property
    def ok(self) -> bool:
        return self.complete and self.failure is None and not self.unreachable

    @property
    def exit_status(self) -> int:
        """0: agreed; 1: an observed outcome is unreachable; 3: a run or the exploration did not complete."""
        if self.failure is not None or not self.complete:
            return 3
        return 1 if self.unreachable else 0

    def verdict(self) -> str:
        if self.failure is not None:
            return f"the real runs did not complete: {self.failure}"
        if not self.complete:
            return (f"exploration stopped after {self.schedules:,} schedules without finishing: "
                    "a cross-check needs a size it can finish (fewer processes or ops)")
        if self.unreachable:
            missed = "; ".join(f"{outcome} ({count:,} of {self.trials:,} trials)"
                               for outcome, count in self.unreachable.items())
            return (f"real runs observed what no schedule reaches: {missed}; exploration reached only "
                    f"{', '.join(self.reachable)}: racecourse does not see everything this worker does")
        return (f"every outcome of {self.trials:,} {self.mode} trials ({len(self.observed)} distinct) is among the "
                f"{len(self.reachable)} that {self.schedules:,} schedules reach")

    def to_json(self) -> Dict[str, Any]:
        return {"scenario": self.scenario.id, "start_method": self.start_method, "processes": self.processes,
                "ops": self.ops, "mode": self.mode, "trials": self.trials, "observed": self.observed,
                "reachable": self.reachable, "unreachable": self.unreachable, "schedules": self.schedules,
                "complete": self.complete, "failure": self.failure, "ok": self.ok, "verdict": self.verdict()}


def reachable_outcomes(scenario: Scenario, processes: int, ops: int, start_method: Optional[str],
                       budget: int = DEFAULT_BUDGET, timeout: float = 10.0) -> Tuple[Dict[str, int], int, bool, str]:
    """Every outcome exhaustive exploration reaches at this size: (outcomes, schedules,
    complete, the start method used). The reduction keeps every distinct outcome."""
    reached: Dict[str, int] = collections.Counter()
    schedules = 0
    with Controller(scenario, processes, ops, start_method, timeout) as controller:
        exhaustive = Exhaustive(reduction=True)
        for execution in exhaustive.executions(controller, budget):
            schedules += 1
            if execution.deadlock is None and not execution.errors:
                reached[outcome_key(execution.observed, execution.violation)] += 1
        return dict(reached), schedules, exhaustive.complete, controller.start_method


def observed_outcomes(scenario: Scenario, processes: int, ops: int, start_method: str,
                      trials: Optional[int]) -> Tuple[Dict[str, int], str, int, Optional[str]]:
    """The outcomes of ``trials`` real runs (default: DEFAULT_TRIALS of the kind that can
    run): (outcomes, "fast" or "stress", trials, failure)."""
    counts: Dict[str, int] = collections.Counter()
    fast: Optional[Any] = None
    if fast_trials.unsupported_reason(scenario) is None:
        try:
            fast = fast_trials.run(scenario, trials=trials or DEFAULT_TRIALS["fast"], processes=processes, ops=ops,
                                   start_method=start_method)
        except fast_trials.NotResettable:  # found out while building: a Manager, say
            fast = None
    if fast is not None:
        if fast.failure is not None:
            return {}, "fast", fast.requested, fast.failure.describe()
        for outcome, count in fast.counts.items():
            counts[_fast_key(scenario, outcome)] += count
        return dict(counts), "fast", fast.requested, None
    trials = trials or DEFAULT_TRIALS["stress"]
    run = stress_runner.run(scenario, processes=processes, ops=ops, trials=trials, start_method=start_method)
    for trial in run.trials:
        if trial.failure is not None:
            return {}, "stress", trials, trial.failure.describe()
        counts[outcome_key(trial.observed, trial.violation)] += 1
    return dict(counts), "stress", trials, None


def _fast_key(scenario: Scenario, outcome: Union[int, str]) -> str:
    if isinstance(outcome, int):
        return outcome_key(outcome, None)
    return HOLDS if outcome == INVARIANT_HELD else outcome


def cross_check(scenario: Scenario, *, processes: int = 2, ops: int = 1, start_method: Optional[str] = None,
                trials: Optional[int] = None, budget: int = DEFAULT_BUDGET, timeout: float = 10.0) -> CrossCheck:
    """Every outcome of ``trials`` real runs (default: 2,000 fast trials, or 20 stress
    trials where fast ones cannot run) must be one that exploration reaches."""
    reached, schedules, complete, method = reachable_outcomes(scenario, processes, ops, start_method, budget, timeout)
    seen, mode, trials, failure = observed_outcomes(scenario, processes, ops, method, trials)
    return CrossCheck(scenario, method, processes, ops, mode, trials, seen, reached, schedules, complete, failure)

