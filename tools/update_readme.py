"""Regenerate the catalogue table in README.md from the scenario files.

Run after adding or changing a scenario:  python tools/update_readme.py
tests/test_readme.py fails when the README's table and the code disagree.
"""

from __future__ import annotations

import pathlib
import re

from racecourse import catalogue
from racecourse.report import markdown_table

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"
BLOCK = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)


def updated(text: str) -> str:
    table = markdown_table(catalogue.builtin())
    return BLOCK.sub(lambda m: f"{START}\n{table}\n{END}", text)


if __name__ == "__main__":
    README.write_text(updated(README.read_text()))
    print(f"updated {README}")
