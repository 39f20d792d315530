"""How often does one default run demonstrate each race?

For every racy scenario (and module-lock where it is racy) and every start method, make
R default runs (``racecourse run ID`` with no options) and count those in which the race
showed: an update lost or the invariant broken in at least one trial. Also prints the
slowest and the median wall time of one run, interpreter start not included.

    python benchmarks/detection_rates.py [RUNS] [ID ...]

The detection guarantee tested in tests/test_detection.py rests on these figures.
"""

from __future__ import annotations

import statistics
import sys
import time

from racecourse import Expect, catalogue, stress_runner
from racecourse.sharing import available_start_methods


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    wanted = set(sys.argv[2:])
    print(f"{'scenario':24} {'method':10} {'expect':9} {'detected':>9} {'not ok':>6} {'max s':>6} {'median s':>8}")
    for scenario in catalogue.builtin():
        if wanted and scenario.id not in wanted:
            continue
        for method in available_start_methods():
            expect = scenario.expect.under(method)
            if not wanted and expect is not Expect.RACY:
                continue
            detected = not_ok = 0
            seconds = []
            for _ in range(runs):
                started = time.monotonic()
                result = stress_runner.run(scenario, start_method=method)
                seconds.append(time.monotonic() - started)
                detected += any(trial.raced for trial in result.trials)
                not_ok += not result.ok
            print(
                f"{scenario.id:24} {method:10} {expect.value:9} {detected:>4}/{runs:<4} {not_ok:>6} "
                f"{max(seconds):6.2f} {statistics.median(seconds):8.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
