"""Controlled-scheduling throughput: schedules per second, per start method and size.

The workers stay alive between schedules and the shared state is reset in place, so a
schedule costs its visible operations (one pipe round trip each), not process starts.
This measures raw-value (2 visible operations per += : a read and a write) at 2 x 1,
2 x 2 and 3 x 1, running every interleaving over and over, and, side by side, what the
same schedules would cost if each one started its workers afresh.

Each cell is measured in several short rounds, interleaved across the cells so that a
busy spell on a shared machine does not fall on one cell only; the table shows the median
round and, in brackets, the best.

    python benchmarks/control_throughput.py [--seconds S] [--rounds R] [--methods fork,spawn,forkserver]

Goal: at least 1,000 schedules/s at 2 x 1 under every start method on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from contextlib import ExitStack
from typing import Dict, List, Tuple

from racecourse import catalogue
from racecourse.control import Controller
from racecourse.control.strategies import Exhaustive
from racecourse.sharing import available_start_methods

SIZES: List[Tuple[int, int]] = [(2, 1), (2, 2), (3, 1)]


def one_round(controller: Controller, seconds: float) -> float:
    """Schedules per second, exploring every interleaving again and again for ``seconds``."""
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
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell (default 3)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds the time is split into (default 6)")
    parser.add_argument("--methods", default=",".join(available_start_methods()))
    args = parser.parse_args()
    scenario = catalogue.resolve_one("raw-value")
    methods = [m for m in args.methods.split(",") if m]
    rates: Dict[Tuple[str, int, int], List[float]] = {}
    with ExitStack() as stack:
        controllers = {
            (method, p, k): stack.enter_context(Controller(scenario, p, k, method))
            for method in methods for p, k in SIZES
        }
        for controller in controllers.values():
            one_round(controller, 0.2)  # warm up
        for _ in range(args.rounds):
            for cell, controller in controllers.items():
                rates.setdefault(cell, []).append(one_round(controller, args.seconds / args.rounds))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"raw-value, every interleaving again and again; schedules/s, median of {args.rounds} rounds "
          f"[best]; {os.cpu_count()} cores, load average {load:.1f}")
    print(f"{'start method':<13}" + "".join(f"{f'{p} x {k}':>17}" for p, k in SIZES)
          + f"{'restart 2x1':>13}{'reuse gain':>12}")
    for method in methods:
        cells = ""
        for p, k in SIZES:
            samples = rates[(method, p, k)]
            cells += f"{statistics.median(samples):>9,.0f} [{max(samples):>5,.0f}]"
        fresh = restarted(scenario, 2, 1, method, 5)
        gain = statistics.median(rates[(method, 2, 1)]) / fresh
        print(f"{method:<13}{cells}{fresh:>13,.1f}{gain:>11,.0f}x")
    print("goal: >= 1,000 schedules/s at 2 x 1 under every start method")


if __name__ == "__main__":
    main()
