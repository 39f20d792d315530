"""``racecourse tour``: a guided lesson, from the first lost update to the start-method trap.

Each stop runs a real scenario with its defaults, prints what happened, and says why.
On 2 cores the whole tour takes well under 30 seconds.
"""

from __future__ import annotations

import argparse
import textwrap
import time
from typing import Any, List, NamedTuple, Optional

from .. import catalogue, stress_runner
from ..report import paint
from ..results import RunResult, sizes
from ..sharing import available_start_methods
from .run import combined_status


class Stop(NamedTuple):
    scenario: str
    before: str
    after: str
    start_method: Optional[str] = None


STOPS = [
    Stop(
        "raw-value",
        "Two processes share one int (Value with lock=False) and each adds 1 to it many times. "
        "`counter.value += 1` reads, adds and writes: three steps, and the other process can run "
        "between them.",
        "Every lost update is a write that overwrote another process's write: both read the same "
        "old value and both wrote old+1.",
    ),
    Stop(
        "synchronized-value",
        "Now the same with Value() and its built-in lock. Surely that fixes it?",
        "No. The lock is taken once for the read and once for the write; the increment as a whole "
        "is still not atomic. This is the gotcha behind many 'but I used a synchronized Value' bugs.",
    ),
    Stop(
        "locked-value",
        "The fix: hold the Value's lock around the whole read-add-write with `with counter.get_lock():`.",
        "Exact, every time. A lock protects what is inside the `with`, and only that.",
    ),
    Stop(
        "manager-dict",
        "A Manager keeps a dict in a server process; workers talk to it through proxies. "
        "`counts[key] += 1` is two requests: a get and a set.",
        "The server runs each request atomically, but another client's get can arrive between "
        "this client's get and set. Proxies make single calls safe, not sequences of calls.",
    ),
    Stop(
        "pool-map",
        "Often the best fix shares nothing: a Pool maps work over processes and returns results, "
        "and the parent does the adding.",
        "Nothing shared, nothing to lock, nothing lost. Prefer returning results to sharing counters.",
    ),
    Stop(
        "module-lock",
        "Last trap: a Lock created at module import, used by workers started with spawn. "
        "Under fork every child inherits that one lock; under spawn (and forkserver, the default from "
        "Python 3.14 on Linux) each child imports the module afresh and gets a lock of its own.",
        "Each process locked its own private lock, so nothing was excluded. Pass locks to workers "
        "explicitly (Process args, Pool initializer) instead of creating them at import time.",
        start_method="spawn",
    ),
]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("tour", help="a guided lesson in six real runs (under 30 s)")
    parser.set_defaults(handler=tour_command)


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88, initial_indent="  ", subsequent_indent="  ")


def tour_command(args: argparse.Namespace) -> int:
    started = time.monotonic()
    results: List[RunResult] = []
    known = catalogue.builtin_by_id()
    for number, stop in enumerate(STOPS, 1):
        scenario = known[stop.scenario]
        method = stop.start_method if stop.start_method in available_start_methods() else None
        result = stress_runner.run(scenario, start_method=method)
        results.append(result)
        print(paint(f"{number}. {scenario.id}: {scenario.title}", "bold"))
        print(_wrap(stop.before))
        mark = "red" if any(t.raced for t in result.trials) else "green"
        print(
            "  -> "
            + paint(result.verdict(), mark)
            + f"  [{sizes(result.processes, result.ops)}, {len(result.trials)} trials, {result.start_method}]"
        )
        print(_wrap(stop.after))
        print()
    elapsed = time.monotonic() - started
    print(f"Tour done in {elapsed:.1f} s. Next: 'racecourse list' for the whole catalogue, "
          "'racecourse explain ID' for any lesson, 'racecourse run ID' to try one yourself.")
    return combined_status(results)
