"""What an outcome means for a scenario: one place for every runner's verdict.

A scenario declares what it expects (``Expect``: racy, safe, an error, fork-only, a
deadlock) and how its result is read (``observe``, ``check``). The stress runner, fast
trials and the controller each produce outcomes their own way; whether an outcome is
within the declaration is decided here.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional, Union

from .model import Expect, Scenario, Shared, bound_call, call_with
from .results import INVARIANT_HELD, Failure, TrialResult


def raises_documented(scenario: Scenario, exception_names: Iterable[str]) -> bool:
    """Every exception raised (by name) is the one the scenario documents (``raises``)."""
    names = list(exception_names)
    return scenario.raises is not None and bool(names) and all(name == scenario.raises.__name__ for name in names)


def error_documented(scenario: Scenario, correct: bool) -> bool:
    """A schedule whose worker raised is no failure of the run when the scenario declares
    that error and the schedule raised just it (``correct``)."""
    return scenario.expect is Expect.ERROR and correct


def judge_trial(scenario: Scenario, start_method: str, shared: Shared, expected: Optional[int], seconds: float) -> TrialResult:
    """A completed trial: its count and invariant, and whether they are within the
    scenario's declaration under ``start_method``."""
    expect = scenario.expect.under(start_method)
    violation = call_with(scenario.check, shared) if scenario.check is not None else None
    observed: Optional[int]
    lost: Optional[int]
    if scenario.is_counter:
        assert scenario.observe is not None and expected is not None
        observed = int(call_with(scenario.observe, shared))
        # A value that is not a count (observes="value") is right or wrong, not short of updates.
        lost = expected - observed if scenario.counts_updates else None
        correct = observed == expected and violation is None
    else:
        observed = lost = None
        correct = violation is None
    # Racy and deadlock-prone scenarios are within their declaration whatever they show;
    # a scenario that promised an error and completed normally is not.
    ok = correct if expect is Expect.SAFE else expect is not Expect.ERROR
    return TrialResult(expected, observed, lost, ok, seconds, violation)


def judge_incomplete(
    scenario: Scenario, expected: Optional[int], seconds: float, failure: Failure, stuck_running: bool = False
) -> TrialResult:
    """The result of a trial that did not complete. ``stuck_running``: its workers timed out
    after the start line, which is how a deadlock shows (not while they were starting)."""
    expect = scenario.expect
    if expect is Expect.ERROR and raises_documented(scenario, [failure.exception_type]):
        return TrialResult(expected, None, None, True, seconds, failure=failure)
    if expect is Expect.DEADLOCK and failure.kind == "timeout" and stuck_running:
        return TrialResult(expected, None, None, True, seconds, violation="deadlocked: " + failure.message)
    return TrialResult(expected, None, None, False, seconds, failure=failure)


def observer(scenario: Scenario, shared: Shared) -> Callable[[], Union[int, str]]:
    """What the parent reads after a trial: the count, or what broke the invariant."""
    check = bound_call(scenario.check, shared) if scenario.check is not None else None
    observe = bound_call(scenario.observe, shared) if scenario.observe is not None else None

    def look() -> Union[int, str]:
        violation = check() if check is not None else None
        if violation is not None:
            return str(violation)
        return int(observe()) if observe is not None else INVARIANT_HELD

    return look


__all__ = ["error_documented", "judge_incomplete", "judge_trial", "observer", "raises_documented"]
