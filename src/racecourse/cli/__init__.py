"""The ``racecourse`` command line. Each subcommand lives in its own module.

Every path out of here is one of the exit statuses in ``racecourse.results``: bad usage is
one line on stderr and status 2, with nothing started; Ctrl-C is one line and 130, after
the runners have stopped everything they started.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import threading
from typing import Any, List, NoReturn, Optional, Set

from .. import __version__
from ..catalogue import BadScenarioFile, UnknownScenario
from ..control.placement import setting_problem as placement_problem
from ..sharing import available_start_methods, default_start_method
from . import bench, browse, diff, explore, run, serve, tour
from .options import UsageError
from .status import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE

# The subcommand modules, in the order `racecourse --help` lists them. Each provides
# add_parser(subparsers), which registers its handler as `handler`.
COMMANDS = [browse, run, explore, diff, tour, bench, serve]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the usage block too)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def version_line() -> str:
    """racecourse's version and what a bug report needs with it: the interpreter and the
    start methods it has (their default changed in Python 3.14)."""
    methods = ", ".join(available_start_methods())
    return (f"racecourse {__version__} ({platform.python_implementation()} {platform.python_version()}; "
            f"start methods: {methods}; default: {default_start_method()})")


class _Version(argparse.Action):
    """--version on one line (argparse's own wraps it at the terminal's width)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Optional[str] = None) -> None:
        print(version_line())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="racecourse",
        description="Race conditions in Python multiprocessing: shown, explained, and the fixes proven.",
        epilog="Start with 'racecourse tour'. Exit status: 0 as declared, 1 a safe scenario broke, "
        "2 bad usage, 3 a run did not complete, 4 the --connect server refused the authkey or cannot be reached, "
        "130 interrupted, 143 terminated by SIGTERM.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version, the interpreter and its start methods")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS:
        module.add_parser(subparsers)
    parser.set_defaults(command_names=list(subparsers.choices))
    return parser


def synopsis(width: int = 90) -> str:
    """Every command with every option it takes, from the parsers themselves: the README's
    synopsis (tools/update_readme.py writes it there, tests/test_readme.py checks it)."""
    parser = build_parser()
    lines = ["racecourse --version".ljust(40) + "# the version, the interpreter and its start methods"]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help or "" for choice in subparsers._choices_actions}
    for name, command in subparsers.choices.items():
        words = [_usage_word(group) for group in _option_groups(command)]
        lines.append(f"# {helps[name]}")
        line = f"racecourse {name}"
        for word in words:
            if len(line) + 1 + len(word) > width:
                lines.append(line)
                line = " " * len(f"racecourse {name}")
            line += " " + word
        lines.append(line)
    lines.append("python -m racecourse ...".ljust(40) + "# the same program")
    return "\n".join(lines)


def _option_groups(command: argparse.ArgumentParser) -> List[List[argparse.Action]]:
    """The parser's arguments in order, those that exclude each other together (--fast | --no-fast)."""
    exclusive = {id(action): group._group_actions for group in command._mutually_exclusive_groups
                 for action in group._group_actions}
    groups: List[List[argparse.Action]] = []
    seen: Set[int] = set()
    for action in command._actions:
        if isinstance(action, argparse._HelpAction) or id(action) in seen:
            continue
        together = exclusive.get(id(action), [action])
        seen.update(id(a) for a in together)
        groups.append(list(together))
    return groups


def _usage_word(group: List[argparse.Action]) -> str:
    def one(action: argparse.Action) -> str:
        if not action.option_strings:
            return str(action.metavar or action.dest)
        names = "|".join(action.option_strings)
        if action.nargs == 0:
            return names
        value = action.metavar or ("|".join(str(c) for c in action.choices) if action.choices else action.dest.upper())
        return f"{names} {value}"

    text = " | ".join(one(action) for action in group)
    optional = not group[0].required and (group[0].option_strings or group[0].nargs == "?")
    return f"[{text}]" if optional else text


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cancelled CI job, ``timeout``): stopped the way Ctrl-C stops a run, so
    the same ``finally`` blocks stop every process racecourse started."""


# The process whose main() installed the handler (a list, so main() can set it in place).
_OWNER = [os.getpid()]


def _terminated(signum: int, frame: Any) -> None:
    if os.getpid() != _OWNER[0]:
        # A forked child inherited this handler: die as SIGTERM means to, so that
        # terminate() stops workers and Pool processes as it should.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated()


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    in_main_thread = threading.current_thread() is threading.main_thread()
    _OWNER[0] = os.getpid()
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main_thread else None
    try:
        args = parser.parse_args(argv)
        if args.command is None:  # bad usage like any other: one line on stderr, not the help
            names = ", ".join(args.command_names)
            raise UsageError(f"racecourse: give a command ({names}); 'racecourse --help' explains them")
        problem = placement_problem()  # RACECOURSE_CONTROL_CPU: read by every controlled run
        if problem is not None:
            raise UsageError(problem)
        return int(args.handler(args))
    except (UsageError, UnknownScenario) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else "bad usage"
        prefix = "" if message.startswith("racecourse") else "racecourse: "
        print(f"{prefix}{message}", file=sys.stderr)
        if isinstance(error, BadScenarioFile) and error.user_traceback:
            print(error.user_traceback, file=sys.stderr)  # the user's code, never racecourse's
        return EXIT_USAGE
    except KeyboardInterrupt as stop:
        how = "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
        print(f"racecourse: {how}; every process it started has been stopped", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `racecourse list | head`
        sys.stderr.close()
        return 0
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def entry() -> None:
    sys.exit(main())
