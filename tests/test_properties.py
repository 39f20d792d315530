"""Properties of the stress runner over scenario x processes x ops x start method.

Safe scenarios must be exact for every size. Racy counters are nondeterministic, so the
properties about them are bounds that hold for every interleaving, not rates:

* never more than the expected count: each write stores (a value read) + 1, and a value
  read was itself written by an earlier increment, so the count cannot pass the number
  of increments made;
* never fewer than the theoretical minimum. With N processes each doing K read-then-write
  increments of one cell starting from 0:
    - N == 1: exactly K (nothing to race with);
    - K == 1: at least 1 (the last write stores a read + 1 >= 1);
    - N >= 2 and K >= 2: at least 2. Take the process P whose write comes last. It
      stores r + 1, where r is what its last read saw. If r were 0, that read happened
      before every write (all writes store at least 1), including P's own first write;
      but P's first write precedes P's last read when K >= 2. So r >= 1 and the final
      value is at least 2 — and interleavings reaching exactly 2 exist (the classic
      "concurrent increments can end at 2" result).
  A scenario with several cells (an array) obeys the bound per cell. Program scenarios
  (a Pool hands out the increments unevenly) are held only to the bound that needs no
  distribution: at least 1 when any increment happened.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racecourse import Expect, catalogue, stress_runner
from support import start_methods

SCENARIOS = catalogue.builtin()
METHODS = start_methods()

SAFE_COUNTERS = [s for s in SCENARIOS if s.is_counter and s.expect is Expect.SAFE]
RACY_COUNTERS = [s for s in SCENARIOS if s.is_counter and s.expect is Expect.RACY]
FORK_ONLY = [s for s in SCENARIOS if s.expect is Expect.FORK_ONLY]
ERRORS = [s for s in SCENARIOS if s.expect is Expect.ERROR]

# Each example starts real processes, so each session tries only a few sizes per scenario;
# hypothesis draws new ones every session, and the tox matrix runs 21 sessions (over 60
# sizes per scenario per CI run), which keeps the matrix well inside its time.
EXAMPLES = settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))


def op_limit(scenario):
    """Sizes small enough that a Manager-backed scenario stays quick."""
    return max(1, min(200, scenario.defaults.ops))


def theoretical_minimum(scenario, processes, ops, expected):
    if expected == 0 or ops == 0:
        return 0
    if scenario.program is not None:
        return 1
    cells = expected // (processes * ops)
    if processes == 1:
        return expected
    per_cell = 1 if ops == 1 else 2
    return cells * per_cell


def sizes(scenario):
    return st.tuples(
        st.integers(1, 8),
        st.integers(0, op_limit(scenario)),
        st.sampled_from(METHODS),
    )


@pytest.mark.parametrize("scenario", SAFE_COUNTERS, ids=lambda s: s.id)
def test_safe_counters_are_always_exact(scenario):
    @EXAMPLES
    @given(sizes(scenario))
    def check(size):
        processes, ops, method = size
        result = stress_runner.run(scenario, processes=processes, ops=ops, trials=1, start_method=method)
        trial = result.trials[0]
        assert trial.failure is None, trial.failure.describe()
        assert trial.observed == trial.expected == scenario.expected(processes, ops)
        assert trial.lost == 0 and trial.ok and result.exit_status == 0

    check()


@pytest.mark.parametrize("scenario", RACY_COUNTERS, ids=lambda s: s.id)
def test_racy_counters_stay_within_the_bounds(scenario):
    @EXAMPLES
    @given(sizes(scenario))
    def check(size):
        processes, ops, method = size
        result = stress_runner.run(scenario, processes=processes, ops=ops, trials=1, start_method=method)
        trial = result.trials[0]
        assert trial.failure is None, trial.failure.describe()
        low = theoretical_minimum(scenario, processes, ops, trial.expected)
        assert low <= trial.observed <= trial.expected
        assert trial.ok and result.exit_status == 0  # racing is what it declared

    check()


@pytest.mark.parametrize("scenario", FORK_ONLY, ids=lambda s: s.id)
@pytest.mark.parametrize("method", METHODS)
def test_fork_only_scenarios_are_exact_under_fork(scenario, method):
    result = stress_runner.run(scenario, trials=2, start_method=method)
    assert result.failures == []
    if method == "fork":
        assert all(t.lost == 0 for t in result.trials)
        assert result.exit_status == 0
    else:
        # Under spawn and forkserver the declaration is "racy": any count within bounds.
        assert all(0 < t.observed <= t.expected for t in result.trials)
        assert result.exit_status == 0


@pytest.mark.parametrize("scenario", ERRORS, ids=lambda s: s.id)
@pytest.mark.parametrize("method", METHODS)
def test_error_scenarios_raise_the_documented_error(scenario, method):
    result = stress_runner.run(scenario, trials=2, start_method=method)
    assert len(result.trials) == 2
    for trial in result.trials:
        assert trial.ok
        assert trial.failure is not None
        assert trial.failure.exception_type == scenario.raises.__name__
    assert result.exit_status == 0
    assert "as documented" in result.verdict()
