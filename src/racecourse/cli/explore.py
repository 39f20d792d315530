"""``racecourse explore``, ``replay`` and ``play``: the controlled runner on the command line.

- explore: many schedules with one strategy; the outcome histogram and the first failure.
- replay: one schedule, step by step, as a timeline (text, JSON or SVG).
- play: you are the scheduler; undo with ``u``, quit with ``q``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, List, Optional, TypeVar

from .. import catalogue, saved
from ..control import (
    STRATEGIES,
    ControlError,
    Controller,
    Execution,
    Exploration,
    RunState,
    ScheduleError,
    ScheduleRun,
    Status,
    Step,
    Uncontrollable,
    explore,
    parse_schedule,
    refuse_uncontrollable,
    replay,
    timeline_svg,
    timeline_text,
)
from ..control.exploration import failure_list
from ..control.schedule import check_fits, format_schedule
from ..model import Expect, Scenario
from ..replay_command import replay_command as command_to_replay
from ..report import ProgressLine, paint, table, use_colour
from ..results import sizes
from ..web import server as play_server
from ..worker_code import WorkerCode, code_timeline, listing, process_views, where
from .options import (
    MAX_BUDGET,
    UsageError,
    add_html,
    add_json,
    add_progress,
    add_start_method,
    bounded,
    check_html_path,
    chosen_start_methods,
    seconds,
    write_html,
)
from .status import EXIT_BROKEN, EXIT_FAILED, EXIT_OK

T = TypeVar("T")
MAX_CONTROLLED_PROCESSES = 16


def _sizes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", "-p", type=bounded("processes", 1, MAX_CONTROLLED_PROCESSES), metavar="N",
                        help=f"worker processes, 1 to {MAX_CONTROLLED_PROCESSES} (default 2)")
    parser.add_argument("--ops", "-k", type=bounded("ops", 0, 1000), metavar="K",
                        help="operations per worker (default 1: races show at the smallest sizes)")
    parser.add_argument("--timeout", type=seconds, default=10.0, metavar="SECONDS",
                        help="give up if a worker does not reach its next visible operation in this long (default 10)")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explore", help="run a scenario's schedules under control: every interleaving, or a sample",
        description="Control the interleaving of real worker processes, one visible operation at a time, "
                    "and explore the schedules with a strategy.",
    )
    parser.add_argument("scenario", metavar="ID|FILE.py[:NAME]|MODULE[:NAME]")
    _sizes(parser)
    parser.add_argument("--strategy", "-s", choices=STRATEGIES, default="exhaustive",
                        help="exhaustive (depth first, every schedule), random, or pct (default exhaustive)")
    parser.add_argument("--budget", "-b", type=bounded("budget", 1, MAX_BUDGET), metavar="B",
                        help="at most this many schedules (default 20,000 exhaustive, 1,000 random or pct; "
                        f"at most {MAX_BUDGET:_})")
    parser.add_argument("--seed", type=bounded("seed", 0), default=0, metavar="S",
                        help="seed of random and pct (default 0)")
    parser.add_argument("--depth", "-d", type=bounded("depth", 1, 100), default=3, metavar="D",
                        help="pct's bug depth: priority change points + 1 (default 3)")
    parser.add_argument("--no-reduction", action="store_true",
                        help="exhaustive: run every interleaving, even those that only reorder independent operations")
    add_start_method(parser, several=True)
    add_progress(parser)
    add_json(parser)
    parser.add_argument("--svg", metavar="FILE", help="write the first failing schedule's timeline as SVG "
                        "(one start method)")
    add_html(parser)
    parser.add_argument("--save", metavar="FILE", help="keep every failing schedule found (one per distinct "
                        "failing outcome and start method) in FILE, for 'racecourse replay --from FILE'")
    parser.set_defaults(handler=explore_command)

    again = subparsers.add_parser(
        "replay", help="run one schedule and print its timeline",
        description="Run exactly one schedule (as 'explore' printed it) and show every step.",
    )
    again.add_argument("scenario", nargs="?", metavar="ID|FILE.py[:NAME]|MODULE[:NAME]")
    again.add_argument("--schedule", metavar="S",
                       help="one process number per step, e.g. 0101, 0.1.10, or sized: 2x1:0101")
    again.add_argument("--from", dest="from_file", metavar="FILE",
                       help="replay every failing schedule that 'explore --save FILE' kept, each under its own "
                       "start method, instead of one ID and --schedule")
    _sizes(again)
    add_start_method(again)
    add_json(again)
    again.add_argument("--svg", metavar="FILE", help="also write the timeline as SVG")
    again.add_argument("--code", action="store_true",
                       help="also show the worker's source and, for every step, the line it ran and which half of a += it was")
    again.set_defaults(handler=replay_command)

    play = subparsers.add_parser(
        "play", help="be the scheduler: choose who goes next, one operation at a time",
        description="Each step shows every process's next operation and the shared state; type a process "
                    "number to let it go, u to undo, q to quit.",
    )
    play.add_argument("scenario", metavar="ID|FILE.py[:NAME]|MODULE[:NAME]")
    _sizes(play)
    add_start_method(play)
    play.add_argument("--no-code", dest="code", action="store_false",
                      help="do not show the worker's source with each process's line at every step")
    play.add_argument("--web", action="store_true",
                      help="play in a local page instead (127.0.0.1, a free port, printed), on the same processes")
    play.set_defaults(handler=play_command)


# -- shared checks -----------------------------------------------------------------------------


def _scenario(target: str) -> Scenario:
    """The scenario, refused before anything starts if control cannot run it."""
    scenario = catalogue.resolve_one(target)
    try:
        refuse_uncontrollable(scenario)
    except Uncontrollable as error:
        raise UsageError(str(error)) from None
    return scenario


def _controlled(make: Callable[[], T]) -> T:
    """Run ``make``; what control refuses is a usage error, what breaks is one line and status 3."""
    try:
        return make()
    except (Uncontrollable, ScheduleError) as error:
        raise UsageError(str(error)) from None


def _status(scenario: Scenario, start_method: str, execution: Execution) -> int:
    if execution.errors and not execution.correct:
        return EXIT_FAILED
    if scenario.expect.under(start_method) is Expect.SAFE and not execution.correct:
        return EXIT_BROKEN
    return EXIT_OK


def _write_svg(path: Optional[str], text: str) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)


def _check_svg_path(path: Optional[str]) -> None:
    """Refuse an SVG path that cannot be written, before anything starts (without creating it)."""
    if path:
        directory = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path) or not os.path.isdir(directory) or not os.access(directory, os.W_OK):
            raise UsageError(f"cannot write the SVG to {path}")


def _broken(error: ControlError) -> int:
    print(f"racecourse: {error}", file=sys.stderr)
    return EXIT_FAILED


# -- explore ------------------------------------------------------------------------------------


def explore_command(args: argparse.Namespace) -> int:
    scenario = _scenario(args.scenario)
    methods = chosen_start_methods(args.start_method)
    if args.svg and isinstance(args.start_method, list):
        raise UsageError("--svg writes one timeline: give one --start-method with it")
    _check_svg_path(args.svg)
    check_html_path(args.html)
    if args.save is not None:
        try:
            saved.check_writable(args.save)
        except saved.SavedFileError as error:
            raise UsageError(str(error)) from None
    results: List[Exploration] = []
    for method in methods:
        result = _explore_one(args, scenario, method)
        if result is None:
            return EXIT_FAILED
        results.append(result)
    write_html(args.html, results)
    if args.save is not None:
        saved.save(args.save, saved.failures_of(results))
    if not isinstance(args.start_method, list):
        return _show_one(args, scenario, results[0])
    if args.json:
        print(json.dumps([result.to_json() for result in results], indent=2))
    else:
        _show_several(scenario, results)
    return _combined_status(results)


def _explore_one(args: argparse.Namespace, scenario: Scenario, method: Optional[str]) -> Optional[Exploration]:
    """One exploration under ``method``; None when it broke (said on stderr)."""
    progress = ProgressLine(mode=args.progress)

    def show(result: Exploration, remaining: Callable[[], Optional[int]]) -> None:
        if progress.due():  # the estimate walks the search's path: only when a line is shown
            progress.note(progress_text(result, remaining()))

    try:
        return _controlled(lambda: explore(
            scenario, processes=args.processes or 2, ops=1 if args.ops is None else args.ops,
            strategy=args.strategy, budget=args.budget, seed=args.seed, depth=args.depth,
            reduction=not args.no_reduction, start_method=method, timeout=args.timeout, progress=show,
        ))
    except ControlError as error:
        _broken(error)
        return None
    finally:
        progress.clear()


def progress_text(result: Exploration, remaining: Optional[int]) -> str:
    """What an exploration has done so far, in one line: schedules run, how many failed,
    and what is left (an estimate, for exhaustive; the budget otherwise)."""
    done = f"{result.schedules:,} schedule{'s' if result.schedules != 1 else ''}"
    line = f"{result.scenario.id}: {done}, {result.failing:,} failing"
    if result.strategy != "exhaustive":
        return f"{line}, {result.budget - result.schedules:,} to go"
    left = "" if remaining is None else f"about {remaining:,} left (estimate), "
    return f"{line}, {left}budget {result.budget:,}"


def _combined_status(results: List[Exploration]) -> int:
    statuses = {result.exit_status for result in results}
    for status in (EXIT_FAILED, EXIT_BROKEN):
        if status in statuses:
            return status
    return EXIT_OK


def _show_several(scenario: Scenario, results: List[Exploration]) -> None:
    """One row per start method, then each method's simplest failing schedule."""
    rows = []
    for result in results:
        scope = "complete" if result.complete else "budget reached" if result.strategy == "exhaustive" else "sampled"
        rows.append([scenario.id, result.start_method, result.expect.value,
                     f"{result.processes}x{result.ops}", f"{result.schedules:,} ({scope})", f"{result.failing:,}",
                     f"{result.deadlocks:,}", result.verdict()])
    print(table(["scenario", "method", "expect", "procs x ops", "schedules", "failing", "deadlocks", "verdict"],
                rows))
    for result in results:
        failure = result.first_failure
        if failure is not None:
            print(f"\n{result.start_method}: first failing schedule {failure.schedule}: {failure.outcome}")
            print(f"  replay: {failure.replay_command}")
            if len(result.failures) > 1:
                print("\n".join("  " + line for line in failure_list(result.failures)))


def _show_one(args: argparse.Namespace, scenario: Scenario, result: Exploration) -> int:
    if result.first_failure is not None:
        _write_svg(args.svg, result.first_failure.svg())
    elif args.svg:
        print(f"racecourse: no failing schedule, so no timeline was written to {args.svg}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return result.exit_status
    colour = use_colour(sys.stdout)
    print(paint(f"{scenario.id}: {result.strategy} exploration, {sizes(result.processes, result.ops)}, "
                f"{result.start_method}", "bold"))
    scope = "complete" if result.complete else "budget reached" if result.strategy == "exhaustive" else "sampled"
    pruned = f", {result.pruned:,} pruned by sleep sets" if result.pruned else ""
    print(f"schedules: {result.schedules:,} ({scope}{pruned})")
    print("outcomes:")
    width = max((len(outcome) for outcome in result.outcomes), default=0)
    for outcome, count in result.outcomes.items():
        kind = result.grades.get(outcome)
        graded = f"  {kind.grade.value}: {kind.description}" if kind is not None else ""
        print(f"  {count:>8,}  {outcome.ljust(width) if graded else outcome}{graded}")
    print(f"failing: {result.failing:,}  deadlocks: {result.deadlocks:,}")
    failure = result.first_failure
    if failure is not None:
        print(f"first failing schedule: {failure.schedule}  ({failure.replay_command})")
        print()
        print(failure.timeline(colour=colour))
        if len(result.failures) > 1:
            print()
            print("\n".join(failure_list(result.failures)))
    print()
    mark = "green" if result.ok else "red"
    print(paint(f"{result.expect.value} scenario: {result.verdict()}", mark))
    hint = _larger_size_hint(result)
    if hint:
        print(hint)
    return result.exit_status


def _larger_size_hint(result: Any) -> Optional[str]:
    """A racy scenario explored completely, without a failure, at fewer processes than its
    own runs use: its race may need them (condition-if's needs a third process), so say so
    rather than let "no failing schedule" read as "no race"."""
    wanted = result.scenario.defaults.processes
    if result.expect is not Expect.RACY or result.failing or not result.complete or result.processes >= wanted:
        return None
    return (f"its race may need more processes: its runs use {wanted}, this exploration {result.processes}"
            f" (try --processes {wanted})")


# -- replay -------------------------------------------------------------------------------------


def _sizes_for(args: argparse.Namespace, processes: Optional[int], ops: Optional[int]) -> List[int]:
    """--processes/--ops, or the sizes a sized schedule carries (they must agree)."""
    chosen = []
    for flag, given, default in (("processes", args.processes, 2), ("ops", args.ops, 1)):
        carried = processes if flag == "processes" else ops
        if given is not None and carried is not None and given != carried:
            raise UsageError(f"--{flag} {given} disagrees with the schedule's size ({carried} {flag})")
        chosen.append(given if given is not None else carried if carried is not None else default)
    return chosen


def replay_command(args: argparse.Namespace) -> int:
    if args.from_file is not None:
        return replay_saved(args)
    if args.scenario is None or args.schedule is None:
        raise UsageError("replay needs a scenario and --schedule S, or --from FILE")
    try:
        sized = parse_schedule(args.schedule)
    except ScheduleError as error:
        raise UsageError(str(error)) from None
    processes, ops = _sizes_for(args, sized.processes, sized.ops)
    if processes > MAX_CONTROLLED_PROCESSES:
        raise UsageError(f"processes must be from 1 to {MAX_CONTROLLED_PROCESSES}, not {processes}")
    try:
        check_fits(sized.steps, processes, args.schedule)
    except ScheduleError as error:
        raise UsageError(str(error)) from None
    scenario = _scenario(args.scenario)
    _check_svg_path(args.svg)

    def run() -> Execution:
        with Controller(scenario, processes, ops, args.start_method, args.timeout, lines=args.code) as controller:
            return replay(controller, sized.steps, args.schedule)

    try:
        execution = _controlled(run)
    except ControlError as error:
        return _broken(error)
    method = execution.start_method
    _write_svg(args.svg, timeline_svg(execution, scenario.id, method))
    if args.json:
        print(json.dumps(ScheduleRun(execution, scenario).to_json(), indent=2))
    else:
        print(timeline_text(execution, scenario.id, method, colour=use_colour(sys.stdout)))
        code = WorkerCode.of(scenario) if args.code else None
        if code is not None:
            print()
            print(code_timeline(execution, code))
    return _status(scenario, method, execution)


# -- play -----------------------------------------------------------------------------------------


class _Undo(Exception):
    pass


class _Quit(Exception):
    pass


def _ask(prompt: str) -> str:
    print(prompt, end="", flush=True)
    line = sys.stdin.readline()
    if not line:  # end of input: a piped script ran out, or Ctrl-D
        print()
        raise _Quit()
    if not sys.stdin.isatty():
        print(line.strip())  # a piped answer is not echoed by a terminal: show it
    return line.strip().lower()


def _show_state(run: RunState, controller: Controller, last: Optional[Step], code: Optional[WorkerCode]) -> None:
    """The shared state, the worker's code with each process's line, and each process."""
    state = controller.state_text(last)
    if state:
        print(f"  shared: {state}")
    if code is not None:
        at = {process: run.lines.get(process) if process in run.pending else None
              for process in range(controller.processes)}
        print("\n".join(("  " + line).rstrip() for line in listing(code, at)))
    for view in process_views(controller.processes, run.pending, run.enabled, run.lines, run.steps, code):
        print(f"  {view.describe()}")


def play_command(args: argparse.Namespace) -> int:
    scenario = _scenario(args.scenario)
    processes, ops = args.processes or 2, 1 if args.ops is None else args.ops

    def session() -> int:
        with Controller(scenario, processes, ops, args.start_method, args.timeout, lines=True) as controller:
            if args.web:
                return _play_in_page(controller, scenario)
            return _play(controller, scenario, WorkerCode.of(scenario) if args.code else None)

    try:
        return _controlled(session)
    except ControlError as error:
        return _broken(error)


class _Player:
    """The person at the keyboard as a strategy: replays the steps chosen so far (after an
    undo), then asks for each next one."""

    def __init__(self, controller: Controller, code: Optional[WorkerCode]) -> None:
        self.controller = controller
        self.code = code
        self.chosen: List[int] = []
        self.replaying = 0

    def choose(self, run: RunState) -> int:
        position = len(run.schedule)
        if position < self.replaying:
            return self.chosen[position]
        _show_state(run, self.controller, run.steps[-1] if run.steps else None, self.code)
        options = ", ".join(str(p) for p in run.enabled)
        while True:
            answer = _ask(f"who goes next? [{options}; u undo; q quit] ")
            if answer == "q":
                raise _Quit()
            if answer == "u":
                if not self.chosen:
                    print("  nothing to undo")
                    continue
                self.chosen.pop()
                raise _Undo()
            if answer.isdigit() and int(answer) in run.enabled:
                self.chosen.append(int(answer))
                return int(answer)
            print(f"  '{answer}' is not a process that can go now (choose from {options})")

    def on_step(self, run: RunState, step: Step) -> None:
        if len(run.steps) <= self.replaying:
            return
        at = where(step.kind, step.line, self.code)
        print(f"step {len(run.steps)}: process {step.process}: {step.describe()}" + (f" ({at})" if at else ""))
        if step.lost:
            print(paint(f"  an update was lost: process {step.process} {step.lost}", "red"))


def _play(controller: Controller, scenario: Scenario, code: Optional[WorkerCode]) -> int:
    print(paint(f"{scenario.id}: {scenario.title}", "bold"))
    print(f"You are the scheduler: {sizes(controller.processes, controller.ops)}, {controller.start_method}. "
          "Type a process number to let it perform its next operation, u to undo, q to quit.")
    if code is not None:
        print(f"The worker ({code.where}); the numbers left of each line are the processes whose next "
              "operation is there.")
    player = _Player(controller, code)
    while True:
        player.replaying = len(player.chosen)
        try:
            execution = controller.run(player.choose, watch=True, on_step=player.on_step)
        except _Undo:
            print(f"undone: back to step {len(player.chosen) + 1}")
            continue
        except _Quit:
            print(f"schedule so far: {format_schedule(player.chosen) or '(empty)'}")
            return EXIT_OK
        _show_ending(execution, scenario)
        try:
            answer = _ask("u to undo the last step, anything else to quit: ")
        except _Quit:
            return EXIT_OK
        if answer == "u" and player.chosen:
            player.chosen.pop()
            continue
        return EXIT_OK


# How many schedules --web explores, on the game's own workers before the page opens, for
# its "show me a failing schedule" hint (2 x 1 needs a handful; larger sizes may stop short).
HINT_BUDGET = 2_000


def _play_in_page(controller: Controller, scenario: Scenario) -> int:
    hint = explore(scenario, strategy="exhaustive", budget=HINT_BUDGET, controller=controller)
    why = play_server.serve(controller, scenario, hint, say=lambda text: print(text, flush=True))
    print(f"stopped: {why}; every worker process has ended")
    return EXIT_OK


def _show_ending(execution: Execution, scenario: Scenario) -> None:
    if execution.status is Status.DEADLOCK:
        print(paint(f"deadlock reached: {execution.deadlock}", "red"))
    elif execution.status is Status.LIVELOCK:
        print(paint(f"livelock reached: {execution.livelock}", "red"))
    else:
        lost = execution.lost_updates
        if lost:
            print(paint(f"{len(lost)} update{'s were' if len(lost) != 1 else ' was'} lost", "red"))
        print(paint(f"outcome: {execution.outcome}", "green" if execution.correct else "red"))
    again = command_to_replay(scenario, execution.sized_schedule, execution.start_method)
    print(f"schedule: {execution.schedule_text}  ({again})")


def replay_saved(args: argparse.Namespace) -> int:
    """``replay --from FILE``: every saved failing schedule again, one line each."""
    if args.scenario is not None or args.schedule is not None or args.svg or args.code:
        raise UsageError("--from FILE replays what the file holds: not with a scenario, --schedule, --svg or --code")
    try:
        failures = saved.load(args.from_file)
    except saved.SavedFileError as error:
        raise UsageError(str(error)) from None
    rows, status, report = [], EXIT_OK, []
    for failure in failures:
        method = args.start_method or failure.start_method
        entry = {"scenario": failure.scenario, "schedule": failure.schedule, "start_method": method,
                 "saved_outcome": failure.outcome}
        try:
            scenario = catalogue.resolve_one(failure.scenario)
            sized = parse_schedule(failure.schedule)
            with Controller(scenario, sized.processes or 2, sized.ops or 1, method, args.timeout) as controller:
                execution = replay(controller, sized.steps, failure.schedule)
        except (ScheduleError, Uncontrollable, catalogue.UnknownScenario) as error:
            # The code changed since: the schedule no longer fits it, or the scenario is gone.
            entry.update(outcome=None, ok=None, result=f"cannot replay it now: {error}")
        except ControlError as error:
            return _broken(error)
        else:
            again = execution.outcome == failure.outcome
            entry.update(outcome=execution.outcome, ok=execution.correct,
                         result=("fails as saved" if again else "fails differently") if not execution.correct
                         else "passes now")
            status = max(status, _status(scenario, method, execution))
        report.append(entry)
        rows.append([failure.scenario, method, failure.schedule, str(entry["result"]), str(entry["outcome"] or "")])
    if args.json:
        print(json.dumps(report, indent=2))
    elif rows:
        print(table(["scenario", "method", "schedule", "result", "outcome"], rows))
    else:
        print(f"{args.from_file} holds no failing schedule")
    return status
