"""Run the full ``racecourse bench`` and record it: Markdown, JSON and the SVG chart.

    python benchmarks/record_results.py [--name 2core] [--quick]

writes benchmarks/results-NAME.md (the tables and the command that produced them),
benchmarks/results-NAME.json (``racecourse bench --json``) and benchmarks/cost-NAME.svg.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from racecourse import bench
from racecourse.bench import chart

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="2core")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    result = bench.run_bench(quick=args.quick, progress=lambda label: print(label, file=sys.stderr, flush=True))
    data = result.to_json()
    command = "python benchmarks/record_results.py" + (f" --name {args.name}" if args.name != "2core" else "") + (
        " --quick" if args.quick else "")
    with open(os.path.join(HERE, f"results-{args.name}.json"), "w") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
    with open(os.path.join(HERE, f"cost-{args.name}.svg"), "w") as out:
        out.write(bench.svg(result.strategies))
    with open(os.path.join(HERE, f"results-{args.name}.md"), "w") as out:
        out.write(f"# racecourse bench results: {args.name}\n\n")
        out.write(f"Produced by `{command}` (the same figures as `racecourse bench --json --svg cost-{args.name}.svg`)\n")
        out.write(f"on {time.strftime('%Y-%m-%d')}, {platform.python_implementation()} {platform.python_version()}, "
                  f"{platform.system()} {platform.release()}, {data['cpus']} CPUs, load average "
                  f"{load_before:.1f} before and {os.getloadavg()[0]:.1f} after the run (other jobs shared the "
                  "machine: figures vary by tens of percent from run to run).\n\n")
        out.write("Increments per second (median of several runs) and the ratio to the raw Value "
                  "measured with the same start method and process count.\n\n")
        out.write("```\n" + chart.summary(result) + "\n```\n\n")
        out.write(f"![cost chart](cost-{args.name}.svg)\n")
    print(chart.summary(result))


if __name__ == "__main__":
    main()
