"""Regenerate the generated parts of README.md from the code.

Run after adding or changing a scenario:  python tools/update_readme.py
``--check`` changes nothing and exits 1 when the README is out of date (as
tests/test_readme.py fails then).
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
from typing import List, Optional

from racecourse import catalogue
from racecourse.report import markdown_table

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"
BLOCK = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)


def updated(text: str) -> str:
    table = markdown_table(catalogue.builtin())
    return BLOCK.sub(lambda m: f"{START}\n{table}\n{END}", text)


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
