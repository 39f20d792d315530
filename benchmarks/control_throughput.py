"""Controlled-scheduling throughput: schedules per second, per start method and size.

The workers stay alive between schedules and the shared state is reset in place, so a
schedule costs its visible operations (one pipe round trip each), not process starts.
This measures raw-value (2 visible operations per += : a read and a write) at 2 x 1,
2 x 2 and 3 x 1, running every interleaving over and over, and, side by side, what the
same schedules would cost if each one started its workers afresh.

    python benchmarks/control_throughput.py [--seconds S] [--methods fork,spawn,forkserver]

Goal: at least 1,000 schedules/s at 2 x 1 under every start method on a 2-core machine.
"""

from __future__ import annotations

import argparse
import time
from typing import List, Tuple

from racecourse import catalogue
from racecourse.control import Controller
from racecourse.control.strategies import Exhaustive
from racecourse.sharing import available_start_methods

SIZES: List[Tuple[int, int]] = [(2, 1), (2, 2), (3, 1)]


def reused(scenario, processes: int, ops: int, method: str, seconds: float) -> float:
    """Schedules per second with one set of workers for every schedule."""
    with Controller(scenario, processes, ops, method) as controller:
        for _ in Exhaustive().executions(controller, 50):  # warm up
            pass
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _ in Exhaustive().executions(controller, None):
                done += 1
        return done / (time.perf_counter() - started)


def restarted(scenario, processes: int, ops: int, method: str, count: int) -> float:
    """Schedules per second if every schedule started (and stopped) its own workers."""
    started = time.perf_counter()
    for _ in range(count):
        with Controller(scenario, processes, ops, method) as controller:
            controller.run(lambda run: run.enabled[0])
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per cell (default 2)")
    parser.add_argument("--methods", default=",".join(available_start_methods()))
    args = parser.parse_args()
    scenario = catalogue.resolve_one("raw-value")
    methods = [m for m in args.methods.split(",") if m]
    print(f"raw-value, every interleaving repeatedly, {args.seconds:g} s per cell; schedules/s")
    header = f"{'start method':<13}" + "".join(f"{f'{p} x {k}':>10}" for p, k in SIZES)
    print(header + f"{'restart 2x1':>13}{'reuse gain':>12}")
    for method in methods:
        rates = [reused(scenario, p, k, method, args.seconds) for p, k in SIZES]
        fresh = restarted(scenario, 2, 1, method, 5)
        cells = "".join(f"{rate:>10,.0f}" for rate in rates)
        print(f"{method:<13}{cells}{fresh:>13,.1f}{rates[0] / fresh:>11,.0f}x")
    print("goal: >= 1,000 schedules/s at 2 x 1 under every start method")


if __name__ == "__main__":
    main()
