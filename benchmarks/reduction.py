"""Exhaustive exploration of the catalogue's safe scenarios at 3-process and 4-process
sizes: schedules and time with the default reduction (critical sections as single
transitions, sleep sets, state caching) against the same without state caching, side by
side in one run, on the same controller ("pruned" counts the schedules stopped by a sleep
set or at a state already explored).

A safe scenario is one that expects no failure under the start method and that the
controlled runner can run. Each search is capped at the default exhaustive budget;
"complete" says whether it covered every class of schedules within it.

    python benchmarks/reduction.py [--sizes 3x2,4x1] [--method fork] [--budget N] [--only ID,ID]

Goal: every safe scenario proven complete at 3 x 2 and at 4 x 1 within the default
budget, each in under 10 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import List, Tuple

from racecourse import Expect, catalogue
from racecourse.control import Controller, Uncontrollable
from racecourse.control.exploration import DEFAULT_BUDGET
from racecourse.control.strategies import Exhaustive
from racecourse.sharing import available_start_methods


def search(controller: Controller, budget: int, states: bool) -> Tuple[int, int, bool, float]:
    """Complete schedules, pruned ones, whether the search finished, and its seconds."""
    exhaustive = Exhaustive(reduction=True, states=states)
    started = time.perf_counter()
    for _ in exhaustive.executions(controller, budget):
        pass
    return exhaustive.explored, exhaustive.pruned, exhaustive.complete, time.perf_counter() - started


def safe_scenarios(method: str, only: List[str]) -> List[object]:
    chosen = []
    for scenario in catalogue.builtin():
        if only and scenario.id not in only:
            continue
        if scenario.worker is None or scenario.expect.under(method) is not Expect.SAFE:
            continue
        chosen.append(scenario)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3x2,4x1", help="processes x ops, comma-separated (default 3x2,4x1)")
    parser.add_argument("--method", default=available_start_methods()[0])
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET["exhaustive"])
    parser.add_argument("--only", default="", help="scenario ids, comma-separated (default: every safe one)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the search without state caching")
    args = parser.parse_args()
    sizes = [tuple(int(part) for part in size.split("x")) for size in args.sizes.split(",") if size]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"exhaustive, budget {args.budget:,}, {args.method}; {os.cpu_count()} cores, load average {load:.1f}")
    print(f"{'scenario':<22}{'size':>5}{'state caching':>28}{'without it':>30}{'ratio':>8}")
    for scenario in safe_scenarios(args.method, [name for name in args.only.split(",") if name]):
        for processes, ops in sizes:
            try:
                controller = Controller(scenario, processes, ops, args.method)
            except Uncontrollable as refused:
                print(f"{scenario.id:<22}{'':>5}  refused: {str(refused)[:60]}")
                break
            with controller:
                cells = [search(controller, args.budget, states) for states in (True, False)[:1 if args.no_baseline else 2]]
            text = ""
            for explored, pruned, complete, seconds in cells:
                text += f"{explored:>9,}{'' if complete else '+':<1} ({pruned:>7,} pruned) {seconds:>7.2f}s"
            ratio = f"{cells[1][0] / max(cells[0][0], 1):>7.1f}x" if len(cells) > 1 else ""
            print(f"{scenario.id:<22}{f'{processes}x{ops}':>5}{text}{ratio}", flush=True)
    print("'+': the budget ran out before the search was complete")


if __name__ == "__main__":
    main()
