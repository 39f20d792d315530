"""``racecourse diff``: one schedule under every start method, and why the outcomes differ."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any, List

from .. import catalogue
from ..control.instrument import Uncontrollable
from ..control.schedule import ScheduleError, parse_schedule
from ..differential import STRESS, Differential, differential
from ..report import output_width, paint
from ..sharing import available_start_methods
from .options import UsageError, add_json, add_sizes, chosen_start_methods, seconds, start_methods

MAX_DIFF_PROCESSES = 4
MAX_DIFF_OPS = 3


def add_parser(subparsers: Any) -> None:
    command = subparsers.add_parser(
        "diff", help="one schedule under every start method: where the outcomes part, and why")
    command.add_argument("scenario", metavar="ID|FILE.py[:NAME]|MODULE[:NAME]")
    command.add_argument("--schedule", "-s", metavar="S",
                         help="the schedule to compare (default: the scenario's minimal failing one, found by "
                         "exhaustive exploration)")
    add_sizes(command)
    command.add_argument("--start-method", "-m", type=start_methods, metavar="M",
                         help="fork, spawn or forkserver, a comma list of them, or all (the default)")
    command.add_argument("--timeout", type=seconds, default=10.0, metavar="SECONDS",
                         help="how long a worker may take to reach its next visible operation (default: 10)")
    add_json(command)
    command.set_defaults(handler=diff_command)


def diff_command(args: argparse.Namespace) -> int:
    methods = [m for m in chosen_start_methods(args.start_method) if m] if args.start_method else available_start_methods()
    if len(methods) < 2:
        raise UsageError("diff compares start methods: give at least two (-m fork,spawn), or all")
    processes, ops = args.processes, args.ops
    if args.schedule is not None:
        try:
            sized = parse_schedule(args.schedule)
        except ScheduleError as error:
            raise UsageError(str(error)) from None
        if sized.processes is None:
            raise UsageError(f"give the schedule with its sizes, as explore prints it (2x1:{args.schedule})")
        for label, given, carried in (("processes", processes, sized.processes), ("ops", ops, sized.ops)):
            if given is not None and given != carried:
                raise UsageError(f"--{label} {given} disagrees with the schedule's size ({carried} {label})")
        processes, ops = sized.processes, sized.ops
    processes, ops = processes or 2, 1 if ops is None else ops
    if processes > MAX_DIFF_PROCESSES or ops > MAX_DIFF_OPS:
        raise UsageError(f"diff explores every schedule: at most {MAX_DIFF_PROCESSES} processes x {MAX_DIFF_OPS} ops")
    scenario = catalogue.resolve_one(args.scenario)
    try:
        result = differential(scenario, methods, schedule=args.schedule, processes=processes, ops=ops,
                              timeout=args.timeout)
    except (Uncontrollable, ScheduleError) as error:
        raise UsageError(str(error)) from None
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(diff_text(result))
    return result.exit_status


def diff_text(result: Differential) -> str:
    width = max(40, output_width() or 100)

    def wrap(text: str, indent: str) -> str:
        return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False)

    what = (f"schedule {result.schedule} under each start method" if result.schedule else
            "a stress run under each start method" if result.mode == STRESS else
            "every schedule under each start method")
    lines: List[str] = [paint(f"{result.scenario.id}: {what}", "bold")]
    column = max(len(m.start_method) for m in result.methods)
    for method in result.methods:
        said = method.outcome if method.outcome is not None else method.note
        if method.outcome is not None and method.note:
            said = f"{said} ({method.note})"
        lines.append(wrap(f"{method.start_method.ljust(column)}  {said}", "  "))
    lines.append("")
    if result.same:
        lines.append("The start methods agree.")
    else:
        lines.append(paint("The start methods disagree.", "bold"))
        if result.first_difference:
            lines.append(wrap(f"Where: {result.first_difference}.", ""))
    if result.why:
        lines.append(paint("Why:", "bold"))
        lines.extend(wrap(line, "  ") for line in result.why)
    elif not result.same:
        lines.append(wrap("Why: every object the worker uses reaches the children the same way under each method "
                          "(explain --provenance shows them): the difference lies elsewhere, in what the processes "
                          "do at start-up or in timing.", ""))
    if result.schedule:
        lines.append("")
        lines.append(f"replay it: racecourse replay {catalogue.target_of(result.scenario)} --schedule {result.schedule} "
                     "--start-method M")
    return "\n".join(lines)
