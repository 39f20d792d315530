"""``racecourse run``: stress one scenario, a user's file, or the whole catalogue."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, List, Optional, Sequence, Union

from .. import catalogue, fast_trials, remote, stress_runner
from ..model import Scenario
from ..report import ProgressLine, failure_details, histogram_table, output_width, run_table, start_method_causes, table
from ..results import FastRunResult, RunResult
from ..sharing import uses_remote_manager
from .options import (
    MAX_TRIALS,
    UsageError,
    add_authkey_file,
    add_html,
    add_json,
    add_progress,
    add_sizes,
    add_start_method,
    bounded,
    check_html_path,
    chosen_start_methods,
    connect_address,
    seconds,
    write_html,
)
from .status import EXIT_BROKEN, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNAVAILABLE


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run scenarios in real processes, many trials, and judge them",
        description="Run a scenario with natural scheduling. Unset options take the scenario's defaults.",
    )
    parser.add_argument("scenario", nargs="?", metavar="ID|FILE.py[:NAME]|MODULE[:NAME]")
    parser.add_argument("--all", action="store_true", help="run the whole built-in catalogue")
    add_sizes(parser)
    parser.add_argument("--trials", "-t", type=bounded("trials", 1, MAX_TRIALS), metavar="T",
                        help=f"independent trials, 1 to {MAX_TRIALS:_} (default: the scenario's)")
    add_start_method(parser, several=True)
    parser.add_argument("--timeout", type=seconds, metavar="SECONDS",
                        help="give up on a trial whose workers have run this long since the start line "
                        "(default: the scenario's); starting them may take max(SECONDS, 60)")
    fast = parser.add_mutually_exclusive_group()
    fast.add_argument("--fast", dest="fast", action="store_true", default=None,
                      help="fast trials: workers stay alive across trials, the run is an outcome histogram "
                      f"(chosen by itself from {fast_trials.FAST_MIN_TRIALS} trials of at most "
                      f"{fast_trials.FAST_MAX_OPS:,} ops, for scenarios whose shared state can be reset)")
    fast.add_argument("--no-fast", dest="fast", action="store_false",
                      help="a fresh set of processes for every trial, even for many small trials")
    parser.add_argument("--connect", type=connect_address, metavar="HOST:PORT",
                        help="the 'racecourse serve' server that remote-manager scenarios use "
                        "(default: each trial starts its own on 127.0.0.1)")
    add_authkey_file(parser, "file holding the authkey of the --connect server")
    parser.add_argument("--cross-check", action="store_true",
                        help="racecourse checks itself: every outcome real runs observe (fast trials, or stress "
                        "trials where fast ones cannot run) must be one that exhaustive exploration at the same size "
                        "reaches (default size 2 x 1; trials: 2,000 fast or 20 stress)")
    add_progress(parser)
    add_json(parser)
    add_html(parser)
    parser.set_defaults(handler=run_command)


def selected(args: argparse.Namespace) -> List[Scenario]:
    if args.all and args.scenario:
        raise UsageError("give a scenario or --all, not both")
    if args.all:
        return catalogue.builtin()
    if not args.scenario:
        raise UsageError("run needs a scenario id (see 'racecourse list') or --all")
    return catalogue.resolve(args.scenario)


AnyResult = Union[RunResult, FastRunResult]


def combined_status(results: Sequence[AnyResult]) -> int:
    statuses = {r.exit_status for r in results}
    for status in (EXIT_INTERRUPTED, EXIT_FAILED, EXIT_BROKEN):
        if status in statuses:
            return status
    return EXIT_OK


def _wants_fast(args: argparse.Namespace, scenario: Scenario) -> bool:
    if args.fast is not None:
        return bool(args.fast)
    trials = scenario.defaults.trials if args.trials is None else args.trials
    ops = scenario.defaults.ops if args.ops is None else args.ops
    return fast_trials.eligible(scenario, trials, ops)


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


def _check_fast(args: argparse.Namespace, scenarios: List[Scenario]) -> None:
    """--fast asked for one scenario that cannot run as fast trials: say so, start nothing."""
    if not args.fast:
        return
    if args.all or len(scenarios) != 1:
        raise UsageError(
            "--fast takes one scenario; otherwise racecourse picks fast trials by itself "
            f"from --trials {fast_trials.FAST_MIN_TRIALS} up"
        )
    reason = fast_trials.unsupported_reason(scenarios[0])
    if reason is not None:
        raise UsageError(f"{scenarios[0].id} cannot run as fast trials: {reason}")


def _run_one(
    args: argparse.Namespace,
    scenario: Scenario,
    method: Optional[str],
    progress: ProgressLine,
    server: Optional[remote.Endpoint],
    started: Callable[[RunResult], None],
) -> AnyResult:
    def show(done: int, total: int) -> None:
        progress.update(scenario.id, done, total)

    if _wants_fast(args, scenario):
        trials = scenario.defaults.trials if args.trials is None else args.trials
        try:
            return fast_trials.run(
                scenario,
                trials=trials,
                processes=args.processes,
                ops=args.ops,
                start_method=method,
                timeout=args.timeout,
                progress=show,
            )
        except fast_trials.NotResettable as error:
            if args.fast:  # asked for by name: refuse, as bad usage (nothing was started)
                raise UsageError(f"{scenario.id} cannot run as fast trials: {error}") from None
            # chosen by racecourse: run it the ordinary way instead
    return stress_runner.run(
        scenario,
        processes=args.processes,
        ops=args.ops,
        trials=args.trials,
        start_method=method,
        timeout=args.timeout,
        progress=show,
        connect=server,
        started=started,
    )


def run_command(args: argparse.Namespace) -> int:
    scenarios = selected(args)  # usage errors surface here, before anything starts
    if args.cross_check:
        return cross_check_command(args, scenarios)
    _check_fast(args, scenarios)
    check_html_path(args.html)
    server = endpoint(args)
    if server is not None and not any(uses_remote_manager(s.build) for s in scenarios):
        which = scenarios[0].id if len(scenarios) == 1 else "none of these scenarios"
        raise UsageError(f"--connect is for scenarios that use a Manager server (remote-manager, "
                         f"remote-manager-locked); {which} uses none")
    if server is not None:
        try:
            remote.probe(server)  # a wrong key or no server: one line, before any worker starts
        except remote.Unavailable as error:
            print(f"racecourse: {error}", file=sys.stderr)
            return EXIT_UNAVAILABLE
    progress = ProgressLine(mode=args.progress)
    as_list = args.all or len(scenarios) != 1 or isinstance(args.start_method, list)
    results: List[AnyResult] = []
    running: List[RunResult] = []  # the stress run under way, with the trials it has completed

    def started(result: RunResult) -> None:
        running[:] = [result]

    try:
        for scenario in scenarios:
            for method in chosen_start_methods(args.start_method):
                results.append(_run_one(args, scenario, method, progress, server, started))
                running.clear()
    except KeyboardInterrupt:
        # Every process the run started is stopped by now; show what was finished, and the
        # trials completed so far of the one under way, before main() reports the interrupt.
        progress.clear()
        for result in running:
            if result.trials:
                result.interrupted = True
                results.append(result)
        _print_results(args, results, as_list)
        raise
    finally:
        progress.clear()
    _print_results(args, results, as_list)
    return combined_status(results)


def _print_results(args: argparse.Namespace, results: List[AnyResult], as_list: bool) -> None:
    """The table (or JSON) of ``results``; ``as_list``: several scenarios were asked for, so
    JSON is a list even when fewer have results (an interrupted run). --html: the report too."""
    write_html(args.html, results)
    if args.json:
        if results or as_list:
            payload: Any = [r.to_json() for r in results] if as_list else results[0].to_json()
            print(json.dumps(payload, indent=2), flush=True)
        return
    if not results:
        return
    _print_tables(results)
    causes = start_method_causes(results)
    if causes:
        print("\n".join(causes))
    details = failure_details(results)
    if details:
        print("\n".join(details), file=sys.stderr)
    sys.stdout.flush()


def _print_tables(results: List[AnyResult]) -> None:
    stressed = [r for r in results if isinstance(r, RunResult)]
    blocks: List[Optional[str]] = [run_table(stressed) if stressed else None]
    blocks.extend(histogram_table(r) for r in results if isinstance(r, FastRunResult))
    print("\n\n".join(b for b in blocks if b))


def cross_check_command(args: argparse.Namespace, scenarios: List[Scenario]) -> int:
    """``run --cross-check``: real runs against exhaustive exploration, one row per scenario and method."""
    from ..control.engine import refuse_uncontrollable
    from ..control.instrument import Uncontrollable
    from ..crosscheck import cross_check

    if args.fast is not None or args.connect or args.html:
        raise UsageError("--cross-check chooses its own trials: not with --fast, --no-fast, --connect or --html")
    checkable, refused = [], []
    for scenario in scenarios:
        try:
            refuse_uncontrollable(scenario)
            checkable.append(scenario)
        except Uncontrollable as error:
            refused.append(error)
    if refused and not args.all:
        raise UsageError(str(refused[0]))
    processes, ops = args.processes or 2, 1 if args.ops is None else args.ops
    results = []
    for scenario in checkable:
        if scenario.expect.value == "deadlock":
            continue  # its trials never end: there is no outcome to compare
        for method in chosen_start_methods(args.start_method):
            try:
                results.append(cross_check(scenario, processes=processes, ops=ops, start_method=method,
                                           trials=args.trials, timeout=args.timeout or 10.0))
            except Uncontrollable as error:  # found out once its state was built: nothing to control
                if not args.all:
                    raise UsageError(str(error)) from None
                refused.append(error)
                break
    if args.json:
        data = [result.to_json() for result in results]
        print(json.dumps(data if args.all or len(data) != 1 else data[0], indent=2))
    else:
        rows = [[r.scenario.id, r.start_method, f"{r.processes}x{r.ops}", r.mode, f"{r.trials:,}",
                 f"{r.schedules:,}", "agrees" if r.ok else "MISSED" if r.unreachable else "incomplete", r.verdict()]
                for r in results]
        print(table(["scenario", "method", "size", "runs", "trials", "schedules", "result", "verdict"], rows,
                    output_width()))
        if args.all and refused:
            print(f"not cross-checked (control cannot run them): {len(refused)} program or unshared scenarios")
    return max((result.exit_status for result in results), default=EXIT_OK)
