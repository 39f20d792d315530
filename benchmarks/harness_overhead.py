"""racecourse's harness overhead: raw-value through the stress runner against the same loop
in a plain hand-written multiprocessing script, interleaved in one run, per start method.

Both are timed the same way: from the first worker past the start line (the worker's own
reading of the system-wide monotonic clock) to the parent receiving the last worker's
"done". The goal is a ratio of at most 1.05.

    python benchmarks/harness_overhead.py [--ops 1000000] [--repeats 7]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from racecourse.bench import measure
from racecourse.sharing import available_start_methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=measure.FULL.overhead_ops)
    parser.add_argument("--repeats", type=int, default=measure.FULL.overhead_repeats)
    args = parser.parse_args()
    plan = replace(measure.FULL, overhead_ops=args.ops, overhead_repeats=args.repeats)
    print(f"raw-value, 2 processes x {args.ops:,} ops; medians of {args.repeats} interleaved runs")
    for method in available_start_methods():
        entry = measure.overhead(method, plan)
        print(f"{method:<11} racecourse {entry.racecourse_s * 1000:8.1f} ms   plain {entry.plain_s * 1000:8.1f} ms   "
              f"ratio {entry.ratio:.3f}")


if __name__ == "__main__":
    main()
