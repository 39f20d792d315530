"""``racecourse bench``: what each way of sharing a counter costs, and what racecourse costs.

``run_bench()`` measures; ``chart.summary()`` and ``chart.svg()`` show the figures.
"""

from __future__ import annotations

from .chart import cost_tables, summary, svg
from .measure import (
    FULL,
    QUICK,
    BenchError,
    BenchResult,
    Cost,
    Overhead,
    run_bench,
    run_control_schedules,
)
from .strategies import STRATEGIES

__all__ = [
    "FULL",
    "QUICK",
    "STRATEGIES",
    "BenchError",
    "BenchResult",
    "Cost",
    "Overhead",
    "cost_tables",
    "run_bench",
    "run_control_schedules",
    "summary",
    "svg",
]
