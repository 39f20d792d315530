"""Checked option types shared by the subcommands: bad input fails before anything starts."""

from __future__ import annotations

import argparse
from typing import Callable, List, Optional, Sequence, Union

from .. import remote
from ..errors import RacecourseError
from ..sharing import available_start_methods
from ..web import report as html_report

MAX_PROCESSES = 256
# Upper limits, so that a typo (an extra digit, 1e9) is refused rather than run for hours
# or passed to a wait that overflows. Each still allows a very long run on purpose.
MAX_OPS = 1_000_000_000  # ~3 minutes of raw-value increments per worker
MAX_TRIALS = 10_000_000  # ~5 minutes of fast trials
MAX_TIMEOUT = 86_400.0  # a day; threading's waits overflow not far beyond 1e9 s
MAX_BUDGET = 10_000_000  # schedules


class UsageError(RacecourseError):
    """Bad input from the user: reported as one line, exit status 2."""


def _integer(text: str, what: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be a whole number, not {text!r}") from None


def bounded(what: str, low: int, high: Optional[int] = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _integer(text, what)
        if value < low or (high is not None and value > high):
            span = f"from {low:,} to {high:,}" if high is not None else f"at least {low:,}"
            raise argparse.ArgumentTypeError(f"{what} must be {span}, not {value:,}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"timeout must be a number of seconds, not {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"timeout must be a positive number of seconds, not {text}")
    if value > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"timeout must be at most {MAX_TIMEOUT:.0f} seconds (a day), not {text}")
    return value


def start_method(text: str) -> str:
    methods = available_start_methods()
    if text not in methods:
        raise argparse.ArgumentTypeError(
            f"start method {text!r} is not available here (this platform has: {', '.join(methods)})"
        )
    return text


def start_methods(text: str) -> Union[str, List[str]]:
    """One start method (a str), or several: ``all`` or a comma list (a list, even of one)."""
    if text.strip() == "all":
        return available_start_methods()
    if "," not in text:
        return start_method(text.strip())
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no start method in {text!r}: give some of "
                                         f"{', '.join(available_start_methods())}, or all")
    return [start_method(name) for name in dict.fromkeys(names)]


def chosen_start_methods(value: Union[str, List[str], None]) -> List[Optional[str]]:
    """The --start-method a command runs under, in order (None: the interpreter's own)."""
    return list(value) if isinstance(value, list) else [value]


def add_sizes(parser: argparse.ArgumentParser) -> None:
    """--processes and --ops, as run, explore and replay take them."""
    parser.add_argument("--processes", "-p", type=bounded("processes", 1, MAX_PROCESSES), metavar="N",
                        help=f"worker processes, 1 to {MAX_PROCESSES} (default: the scenario's)")
    parser.add_argument("--ops", "-k", type=bounded("ops", 0, MAX_OPS), metavar="K",
                        help=f"operations per worker, 0 to {MAX_OPS:_} (default: the scenario's)")


def add_start_method(parser: argparse.ArgumentParser, several: bool = False) -> None:
    if several:
        parser.add_argument("--start-method", "-m", type=start_methods, metavar="M",
                            help="fork, spawn or forkserver, a comma list of them, or all: one run and "
                            "one row per method, one exit status for all (default: the interpreter's own)")
        return
    parser.add_argument("--start-method", "-m", type=start_method, metavar="M",
                        help="fork, spawn or forkserver (default: the interpreter's own)")


def add_progress(parser: argparse.ArgumentParser) -> None:
    """--progress and --quiet: progress on stderr, which by default shows on a terminal
    after a second and elsewhere (a pipe, a log) as a line at most every 5 s."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_const", const="always", default="auto",
                       help="show progress on stderr from the start, even when it is not a terminal")
    group.add_argument("--quiet", "-q", dest="progress", action="store_const", const="never",
                       help="no progress on stderr")


def add_html(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report (verdicts, outcome "
                        "charts, lessons, code, failing timelines) to FILE")


def check_html_path(path: Optional[str]) -> None:
    """A --html path that cannot be written is bad usage, found before anything runs."""
    try:
        html_report.check_path(path)
    except html_report.UnwritableReport as error:
        raise UsageError(str(error)) from None


def write_html(path: Optional[str], results: Sequence[html_report.AnyResult]) -> None:
    """The --html report; a write that fails after all (a full disk) is one line, status 2."""
    try:
        html_report.write(path, results)
    except html_report.UnwritableReport as error:
        raise UsageError(str(error)) from None


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")


def _address(text: str, allow_any_port: bool) -> remote.Address:
    try:
        return remote.parse_address(text, allow_any_port=allow_any_port)
    except remote.BadAddress as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def server_address(text: str) -> remote.Address:
    """HOST:PORT to listen on; port 0 picks a free one."""
    return _address(text, True)


def connect_address(text: str) -> remote.Address:
    """HOST:PORT of a running server."""
    return _address(text, False)


def add_authkey_file(parser: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    parser.add_argument("--authkey-file", metavar="FILE", required=required, help=help)
