"""Regenerate the generated parts of README.md from the code.

Run after adding or changing a scenario or a command-line option:  python tools/update_readme.py
``--check`` changes nothing and exits 1 when the README is out of date (as
tests/test_readme.py fails then).
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
from typing import Dict, List, Optional

from racecourse import catalogue
from racecourse.cli import synopsis
from racecourse.report import markdown_table

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _block(name: str) -> "re.Pattern[str]":
    return re.compile(re.escape(f"<!-- {name}:start -->") + ".*?" + re.escape(f"<!-- {name}:end -->"), re.S)


def generated() -> Dict[str, str]:
    """Each generated block's content: the catalogue table, the command-line synopsis."""
    return {"catalogue": markdown_table(catalogue.builtin()), "synopsis": f"```\n{synopsis()}\n```",
            "bench": recorded_bench()}


BENCH_RECORD = README.parent / "benchmarks" / "results-2core.md"


def recorded_bench() -> str:
    """The tables benchmarks/record_results.py wrote: the first code block of its page."""
    text = BENCH_RECORD.read_text()
    start = text.index("```\n")
    return text[start:text.index("```\n", start + 4) + 3]


def updated(text: str) -> str:
    for name, content in generated().items():
        replacement = f"<!-- {name}:start -->\n{content}\n<!-- {name}:end -->"
        text = _block(name).sub(lambda _: replacement, text)  # noqa: B023 (called right here)
    return text


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/update_readme.py", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if README.md is out of date")
    args = parser.parse_args(argv)
    text = README.read_text()
    new = updated(text)
    if args.check:
        if new != text:
            print(f"{README} is out of date: run python tools/update_readme.py", file=sys.stderr)
            return 1
        print(f"{README} is up to date")
        return 0
    if new != text:
        README.write_text(new)
        print(f"updated {README}")
    else:
        print(f"{README} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
