"""The README stays true: its catalogue table is the code's, its commands are CI's."""

from __future__ import annotations

import pathlib
import re

import pytest

from racecourse import catalogue
from racecourse.report import markdown_table

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = [pytest.mark.skipif(not README.exists(), reason="needs the source tree"),
              pytest.mark.start_method_independent]


def test_catalogue_table_is_generated_from_the_code():
    text = README.read_text()
    block = re.search(r"<!-- catalogue:start -->\n(.*?)\n<!-- catalogue:end -->", text, re.S)
    assert block, "README has a generated catalogue block"
    assert block.group(1) == markdown_table(catalogue.builtin()), "run: python tools/update_readme.py"


def test_first_two_commands_are_the_demo_and_the_tests():
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", README.read_text(), re.S)
    demo, tests = blocks[0], blocks[1]
    assert "pip install" in demo and "racecourse tour" in demo
    assert "pip install" in tests
    test_command = [line for line in tests.splitlines() if line.strip() and "pip install" not in line]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command and all(line.strip() in ci for line in test_command), ".ci/run calls the README's test command"


def test_update_readme_help_prints_help_and_changes_nothing():
    import subprocess
    import sys

    before = README.read_bytes()
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "update_readme.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--check" in done.stdout
    assert README.read_bytes() == before
