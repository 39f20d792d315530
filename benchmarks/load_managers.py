"""Load: many processes through the locked Manager dict and the locked remote Manager.

    python benchmarks/load_managers.py [--processes 32] [--ops 1000] [--trials 20] [--start-method M]

Runs ``racecourse run manager-dict-locked`` and ``racecourse run remote-manager-locked``
with the same sizes, one after the other in this run, and prints for each: trials exact
out of trials run, updates expected and observed, updates lost, time per trial, and the
ratio of the two times (each increment is four requests to the server in both: acquire,
get, set, release; the remote one goes over TCP on 127.0.0.1 instead of a Unix socket).
Exit status 0 when every trial of both lost nothing.

It takes minutes at the default sizes, which is why it is a script and not a test.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from typing import Any, Dict, List

SCENARIOS = ["manager-dict-locked", "remote-manager-locked"]


def measure(scenario: str, args: argparse.Namespace) -> Dict[str, Any]:
    command = [sys.executable, "-m", "racecourse", "run", scenario, "--processes", str(args.processes),
               "--ops", str(args.ops), "--trials", str(args.trials), "--timeout", str(args.timeout), "--json"]
    if args.start_method:
        command += ["--start-method", args.start_method]
    print("$", shlex.join(["racecourse"] + command[3:]), flush=True)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode not in (0, 1):
        sys.exit(f"{scenario}: exit status {done.returncode}\n{done.stderr}")
    data = json.loads(done.stdout)
    trials: List[Dict[str, Any]] = data["trials"]
    return {
        "scenario": scenario,
        "start_method": data["start_method"],
        "exact": sum(1 for t in trials if t["ok"] and t["lost"] == 0),
        "trials": len(trials),
        "expected": sum(t["expected"] for t in trials),
        "observed": sum(t["observed"] or 0 for t in trials),
        "lost": sum(t["lost"] or 0 for t in trials),
        "seconds_per_trial": sum(t["seconds"] for t in trials) / len(trials),
        "wall_seconds": wall,
        "exit_status": done.returncode,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=32)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=600.0, help="per trial")
    parser.add_argument("--start-method")
    args = parser.parse_args()
    rows = [measure(scenario, args) for scenario in SCENARIOS]
    print(f"\n{args.processes} processes x {args.ops:,} ops, {args.trials} trials, {rows[0]['start_method']}")
    for row in rows:
        print(f"  {row['scenario']:<22} exact in {row['exact']}/{row['trials']} trials; "
              f"{row['observed']:,} of {row['expected']:,} updates, lost {row['lost']:,}; "
              f"{row['seconds_per_trial']:.2f} s per trial ({row['wall_seconds']:.0f} s in all)")
    ratio = rows[1]["seconds_per_trial"] / rows[0]["seconds_per_trial"]
    print(f"  remote / local time per trial: {ratio:.2f}")
    return 0 if all(r["exact"] == r["trials"] and r["lost"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
