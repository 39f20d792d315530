"""Fast trials against the stress runner: trials per second for raw-value, 2 processes x 1 op.

Both run in this one process, under each start method, side by side; the figure is the
median of several runs. The goal for fast trials is at least 5,000 trials/s on 2 cores.

    python benchmarks/fast_trials_throughput.py [--trials 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from racecourse import catalogue, fast_trials, stress_runner
from racecourse.sharing import available_start_methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--stress-trials", type=int, default=100, help="trials for the stress runner's rate")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    scenario = catalogue.builtin_by_id()["raw-value"]
    print(f"raw-value, 2 processes x 1 op; medians of {args.runs} runs")
    print(f"{'method':<11} {'fast trials/s':>14} {'lost':>7} {'stress trials/s':>16} {'fast/stress':>12}")
    for method in available_start_methods():
        rates, lost = [], []
        for _ in range(args.runs):
            result = fast_trials.run(scenario, trials=args.trials, processes=2, ops=1, start_method=method)
            assert result.failure is None, result.verdict()
            rates.append(result.trials_per_s)
            lost.append(result.counts.get(1, 0) / result.trial_count)
        began = time.monotonic()
        stressed = stress_runner.run(scenario, processes=2, ops=1, trials=args.stress_trials, start_method=method)
        stress_rate = len(stressed.trials) / (time.monotonic() - began)
        fast = statistics.median(rates)
        print(f"{method:<11} {fast:>14,.0f} {100 * statistics.median(lost):>6.1f}% {stress_rate:>16,.0f} "
              f"{fast / stress_rate:>11,.0f}x")


if __name__ == "__main__":
    main()
