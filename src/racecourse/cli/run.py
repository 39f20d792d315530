"""``racecourse run``: stress one scenario, a user's file, or the whole catalogue."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, List, Optional

from .. import catalogue, remote, stress_runner
from ..model import Scenario
from ..report import ProgressLine, failure_details, run_table
from ..results import (
    EXIT_BROKEN,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    RunResult,
)
from .options import (
    UsageError,
    add_authkey_file,
    add_json,
    add_sizes,
    add_start_method,
    bounded,
    connect_address,
    seconds,
)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run scenarios in real processes, many trials, and judge them",
        description="Run a scenario with natural scheduling. Unset options take the scenario's defaults.",
    )
    parser.add_argument("scenario", nargs="?", metavar="ID|FILE.py[:NAME]|MODULE[:NAME]")
    parser.add_argument("--all", action="store_true", help="run the whole built-in catalogue")
    add_sizes(parser)
    parser.add_argument("--trials", "-t", type=bounded("trials", 1), metavar="T",
                        help="independent trials (default: the scenario's)")
    add_start_method(parser)
    parser.add_argument("--timeout", type=seconds, metavar="SECONDS",
                        help="give up on a trial after this long (default: the scenario's)")
    parser.add_argument("--connect", type=connect_address, metavar="HOST:PORT",
                        help="the 'racecourse serve' server that remote-manager scenarios use "
                        "(default: each trial starts its own on 127.0.0.1)")
    add_authkey_file(parser, "file holding the authkey of the --connect server")
    add_json(parser)
    parser.set_defaults(handler=run_command)


def selected(args: argparse.Namespace) -> List[Scenario]:
    if args.all and args.scenario:
        raise UsageError("give a scenario or --all, not both")
    if args.all:
        return catalogue.builtin()
    if not args.scenario:
        raise UsageError("run needs a scenario id (see 'racecourse list') or --all")
    return catalogue.resolve(args.scenario)


def combined_status(results: List[RunResult]) -> int:
    statuses = {r.exit_status for r in results}
    for status in (EXIT_INTERRUPTED, EXIT_FAILED, EXIT_BROKEN):
        if status in statuses:
            return status
    return EXIT_OK


def endpoint(args: argparse.Namespace) -> Optional[remote.Endpoint]:
    """The --connect server and its key, or None; a bad key file is a usage error."""
    if args.connect is None and args.authkey_file is None:
        return None
    if args.connect is None:
        raise UsageError("--authkey-file goes with --connect HOST:PORT")
    if args.authkey_file is None:
        raise UsageError("--connect needs --authkey-file FILE (the server's authkey)")
    try:
        return remote.Endpoint(args.connect, remote.read_authkey(args.authkey_file))
    except remote.BadAuthkeyFile as error:
        raise UsageError(str(error)) from None


def run_command(args: argparse.Namespace) -> int:
    scenarios = selected(args)  # usage errors surface here, before anything starts
    server = endpoint(args)
    if server is not None:
        try:
            remote.probe(server)  # a wrong key or no server: one line, before any worker starts
        except remote.Unavailable as error:
            print(f"racecourse: {error}", file=sys.stderr)
            return EXIT_UNAVAILABLE
    progress = ProgressLine()
    results: List[RunResult] = []
    try:
        for scenario in scenarios:
            def show(done: int, total: int, scenario_id: str = scenario.id) -> None:
                progress.update(scenario_id, done, total)

            results.append(stress_runner.run(
                scenario,
                processes=args.processes,
                ops=args.ops,
                trials=args.trials,
                start_method=args.start_method,
                timeout=args.timeout,
                progress=show,
                connect=server,
            ))
    finally:
        progress.clear()
    if args.json:
        payload: Any = [r.to_json() for r in results] if args.all or len(results) != 1 else results[0].to_json()
        print(json.dumps(payload, indent=2))
    else:
        print(run_table(results))
        details = failure_details(results)
        if details:
            print("\n".join(details), file=sys.stderr)
    return combined_status(results)
