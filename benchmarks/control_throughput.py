"""Controlled-scheduling throughput: schedules per second, per start method and size.

The workers stay alive between schedules and the shared state is reset in place, so a
schedule costs its visible operations (one pipe round trip each), not process starts.
This measures raw-value (2 visible operations per += : a read and a write) at 2 x 1,
2 x 2, 3 x 1 and 3 x 2, running every interleaving over and over (a round may stop in the
middle of a pass: 3 x 2 has 34,650 interleavings), and, side by side, what the same
schedules would cost if each one started its workers afresh.

A controlled run keeps its thread and workers on one CPU (racecourse.control.placement);
--placement both measures, in the same rounds, controllers with and without it
(RACECOURSE_CONTROL_CPU=off) and prints the ratio per cell.

Each cell is measured in several short rounds, interleaved across the cells so that a
busy spell on a shared machine does not fall on one cell only; the table shows the median
round and, in brackets, the best.

    python benchmarks/control_throughput.py [--seconds S] [--rounds R] [--methods fork,spawn,forkserver]
    python benchmarks/control_throughput.py --lines [...]
    python benchmarks/control_throughput.py --placement [...]

--lines measures, side by side in the same rounds, controllers whose operations also report
the worker's line (what ``play`` shows the code with: a frame walk per operation in the
worker) against the same controllers without, and prints the ratio per cell.

Goal (#17): at least 10,000 schedules/s at 2 x 1 and 3,000 at 3 x 2 under every start
method on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from contextlib import ExitStack
from typing import Any, Dict, List, Tuple

from racecourse import catalogue
from racecourse.control import Controller, placement
from racecourse.control.strategies import Exhaustive
from racecourse.sharing import available_start_methods

SIZES: List[Tuple[int, int]] = [(2, 1), (2, 2), (3, 1), (3, 2)]
EVERY_CPU = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def one_round(controller: Controller, seconds: float) -> float:
    """Schedules per second, exploring every interleaving again and again for ``seconds``
    (the clock is read after every schedule, so a round may end in the middle of a pass)."""
    _hold_thread(controller)
    done = 0
    started = time.perf_counter()
    while True:
        for _ in Exhaustive().executions(controller, None):
            done += 1
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                return done / elapsed


def _hold_thread(controller: Controller) -> None:
    """Put this thread where the controller's run would have it: on its CPU, or (placement
    off) on every CPU. Controllers made in one thread share its CPU, so rounds that take
    them in turn must move the thread between them."""
    if EVERY_CPU:
        cpu = controller.placement.cpu
        os.sched_setaffinity(0, EVERY_CPU if cpu is None else {cpu})


def restarted(scenario, processes: int, ops: int, method: str, count: int) -> float:
    """Schedules per second if every schedule started (and stopped) its own workers."""
    started = time.perf_counter()
    for _ in range(count):
        with Controller(scenario, processes, ops, method) as controller:
            controller.run(lambda run: run.enabled[0])
    return count / (time.perf_counter() - started)


Cell = Tuple[Any, ...]


def _controller(scenario: Any, method: str, processes: int, ops: int, lines: bool, placed: bool = True) -> Controller:
    """A controller, placed on one CPU or (``placed=False``) left to the operating system."""
    saved = os.environ.get(placement.ENVIRONMENT)
    if not placed:
        os.environ[placement.ENVIRONMENT] = "off"
    try:
        return Controller(scenario, processes, ops, method, lines=lines)
    finally:
        if saved is None:
            os.environ.pop(placement.ENVIRONMENT, None)
        else:
            os.environ[placement.ENVIRONMENT] = saved


def interleaved_rounds(cells: Dict[Cell, Tuple[Any, ...]], args: argparse.Namespace) -> Dict[Cell, List[float]]:
    """Schedules/s of each cell's controller (start method, processes, ops, lines[, placed]),
    in ``args.rounds`` rounds that take every cell in turn."""
    scenario = catalogue.resolve_one("raw-value")
    rates: Dict[Cell, List[float]] = {}
    # Unplaced controllers first: a process started while the thread is on one CPU (their
    # workers, a forkserver) would inherit that CPU.
    order = sorted(cells, key=lambda cell: len(cells[cell]) > 4 and cells[cell][4])
    with ExitStack() as stack:
        controllers = {cell: stack.enter_context(_controller(scenario, *cells[cell])) for cell in order}
        for controller in controllers.values():
            one_round(controller, 0.2)  # warm up
        for _ in range(args.rounds):
            for cell, controller in controllers.items():
                rates.setdefault(cell, []).append(one_round(controller, args.seconds / args.rounds))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell (default 3)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds the time is split into (default 6)")
    parser.add_argument("--methods", default=",".join(available_start_methods()))
    parser.add_argument("--lines", action="store_true", help="compare controllers that report lines with those that do not")
    parser.add_argument("--placement", action="store_true", help="compare controllers on one CPU with unplaced ones")
    parser.add_argument("--sizes", default=",".join(f"{p}x{k}" for p, k in SIZES), help="e.g. 2x1,3x2")
    args = parser.parse_args()
    SIZES[:] = [(int(p), int(k)) for p, k in (size.split("x") for size in args.sizes.split(",") if size)]
    if args.lines:
        compare_lines(args)
        return
    if args.placement:
        compare_placement(args)
        return
    scenario = catalogue.resolve_one("raw-value")
    methods = [m for m in args.methods.split(",") if m]
    rates = interleaved_rounds({(method, p, k): (method, p, k, False) for method in methods for p, k in SIZES}, args)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"raw-value, every interleaving again and again; schedules/s, median of {args.rounds} rounds "
          f"[best]; {os.cpu_count()} cores, load average {load:.1f}")
    print(f"{'start method':<13}" + "".join(f"{f'{p} x {k}':>18}" for p, k in SIZES)
          + f"{'restart 2x1':>13}{'reuse gain':>12}")
    for method in methods:
        cells = ""
        for p, k in SIZES:
            samples = rates[(method, p, k)]
            cells += f"{statistics.median(samples):>9,.0f} [{max(samples):>6,.0f}]"
        fresh = restarted(scenario, 2, 1, method, 5)
        gain = statistics.median(rates[(method, 2, 1)]) / fresh if (method, 2, 1) in rates else float("nan")
        print(f"{method:<13}{cells}{fresh:>13,.1f}{gain:>11,.0f}x")
    print("goal: >= 10,000 schedules/s at 2 x 1 and >= 3,000 at 3 x 2 under every start method")


def compare_lines(args: argparse.Namespace) -> None:
    """Schedules/s with and without the line of each operation, interleaved round by round."""
    methods = [m for m in args.methods.split(",") if m]
    rates = interleaved_rounds({(method, p, k, lines): (method, p, k, lines)
                                for method in methods for p, k in SIZES for lines in (False, True)}, args)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"raw-value, schedules/s without and with each operation's line, median of {args.rounds} rounds; "
          f"{os.cpu_count()} cores, load average {load:.1f}")
    print(f"{'start method':<13}{'size':>6}{'without':>10}{'with lines':>12}{'ratio':>8}")
    for method in methods:
        for p, k in SIZES:
            without = statistics.median(rates[(method, p, k, False)])
            with_lines = statistics.median(rates[(method, p, k, True)])
            print(f"{method:<13}{f'{p}x{k}':>6}{without:>10,.0f}{with_lines:>12,.0f}{with_lines / without:>8.3f}")


def compare_placement(args: argparse.Namespace) -> None:
    """Schedules/s on one CPU against left to the operating system, interleaved round by round."""
    methods = [m for m in args.methods.split(",") if m]
    rates = interleaved_rounds({(method, p, k, placed): (method, p, k, False, placed)
                                for method in methods for p, k in SIZES for placed in (False, True)}, args)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"raw-value, schedules/s left to the OS and on one CPU, median of {args.rounds} rounds [best]; "
          f"{os.cpu_count()} cores, load average {load:.1f}")
    print(f"{'start method':<13}{'size':>6}{'unplaced':>18}{'one CPU':>18}{'ratio':>8}")
    for method in methods:
        for p, k in SIZES:
            free, placed = rates[(method, p, k, False)], rates[(method, p, k, True)]
            print(f"{method:<13}{f'{p}x{k}':>6}{statistics.median(free):>9,.0f} [{max(free):>6,.0f}]"
                  f"{statistics.median(placed):>9,.0f} [{max(placed):>6,.0f}]"
                  f"{statistics.median(placed) / statistics.median(free):>8.2f}")


if __name__ == "__main__":
    main()
