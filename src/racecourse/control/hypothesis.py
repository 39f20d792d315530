"""A hypothesis strategy for schedules, so that a property test finds a failing
interleaving and shrinks it to a minimal one.

A schedule is drawn as a list of small integers, one per step; at each step the integer
picks among the processes that can run (``follow``). Every list is therefore a valid
schedule, and hypothesis's shrinking (shorter lists, smaller numbers) moves towards
"the lowest-numbered runnable process goes", the sequential run, keeping only the
switches that the failure needs::

    from hypothesis import given
    from racecourse.control import Controller, follow
    from racecourse.control.hypothesis import choices

    @given(choices())
    def test_counter_is_exact(steps):
        execution = controller.run(follow(steps))
        assert execution.correct, execution.schedule_text

Needs hypothesis (``pip install racecourse[test]``); racecourse itself does not.
"""

from __future__ import annotations

from typing import Any, List


def choices(max_steps: int = 200, max_choice: int = 7) -> Any:
    """Lists of per-step choices, shrinking towards the sequential schedule."""
    from hypothesis import strategies as st

    strategy: Any = st.lists(st.integers(min_value=0, max_value=max_choice), max_size=max_steps)
    return strategy


def sizes(max_processes: int = 3, max_ops: int = 2) -> Any:
    """(processes, ops) pairs from 2 x 1 up, shrinking towards 2 x 1."""
    from hypothesis import strategies as st

    strategy: Any = st.tuples(st.integers(2, max_processes), st.integers(1, max_ops))
    return strategy


__all__: List[str] = ["choices", "sizes"]
