"""``racecourse bench``: the price of each way of sharing a counter, and of racecourse itself."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, List, Optional

from .. import bench
from ..report import ProgressLine
from .options import UsageError, add_json, add_progress, add_start_method


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="what sharing costs: increments/s per way of sharing, harness overhead, fast trials/s",
        description="Measure each way of sharing a counter at 1, 2 and 4 processes under each start method "
        "(medians of several runs, each as a ratio to the raw Value), racecourse's overhead against a "
        "hand-written script, and fast-trial throughput.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter measurements: under a minute")
    add_start_method(parser)
    add_progress(parser)
    parser.add_argument("--svg", metavar="FILE", help="also draw the cost table as a bar chart (log scale) in FILE")
    add_json(parser)
    parser.set_defaults(handler=bench_command)


def _check_svg_path(path: Optional[str]) -> None:
    """Refuse an SVG path that cannot be written before measuring for a minute."""
    if path is None:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise UsageError(f"cannot write the chart to {path!r}")


def bench_command(args: argparse.Namespace) -> int:
    _check_svg_path(args.svg)
    methods: Optional[List[str]] = [args.start_method] if args.start_method else None
    status = ProgressLine(delay=0.0, mode=args.progress)
    try:
        result = bench.run_bench(quick=args.quick, methods=methods,
                                 progress=lambda what: status.note(f"measuring {what}"))
    except bench.BenchError as error:
        status.clear()
        print(f"racecourse bench: a measurement failed: {error}", file=sys.stderr)
        return 3
    finally:
        status.clear()
    if args.svg:
        with open(args.svg, "w", encoding="utf-8") as out:
            out.write(bench.svg(result.strategies))
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(bench.summary(result))
        if args.svg:
            print(f"chart: {args.svg}")
    return 0

