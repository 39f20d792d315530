"""The worked example in examples/ does what the README says: its tests run with the
pytest plugin, the fixed code passes, the buggy code is a strict xfail that cannot flake
(exhaustive exploration finds the failing schedules on every run), and with --runxfail
the failure shows the minimal schedule and a replay command that reproduces it."""

from __future__ import annotations

import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from support import start_methods

ROOT = pathlib.Path(__file__).resolve().parent.parent
BANK = ROOT / "examples" / "bank"
METHODS = start_methods()

pytestmark = pytest.mark.skipif(not BANK.is_dir(), reason="needs the source tree")


@pytest.fixture
def bank(pytester):
    """A copy of examples/bank in pytester's directory, run as a user runs it."""
    shutil.copytree(BANK, pytester.path / "bank", ignore=shutil.ignore_patterns("__pycache__"))
    return pytester


def run_bank(pytester, *options):
    return pytester.runpytest_subprocess("bank", f"--start-methods={','.join(METHODS)}", "-p", "no:cacheprovider",
                                         *options)


def test_fixed_version_passes_and_buggy_version_is_a_strict_xfail(bank):
    result = run_bank(bank, "-v")
    result.assert_outcomes(passed=2 * len(METHODS), xfailed=len(METHODS))
    for method in METHODS:
        result.stdout.fnmatch_lines([
            f"*test_locked_transfer_survives_every_interleaving?{method}? PASSED*",
            f"*test_unlocked_transfer_survives_every_interleaving?{method}? XFAIL*",
        ])


def test_runxfail_failure_shows_the_minimal_schedule_and_its_replay_reproduces_it(bank):
    result = run_bank(bank, "--runxfail", "-k", "unlocked")
    result.assert_outcomes(failed=len(METHODS))
    text = result.stdout.str()
    replays = re.findall(r"^replay: (racecourse replay bank/test_bank.py:UNLOCKED --schedule 2x1:(\d+) "
                         r"--start-method (\w+))$", text, re.M)
    assert sorted(method for _, _, method in replays) == sorted(METHODS), text
    for command, schedule, method in replays:
        message = re.search(rf"minimal failing schedule: {schedule} \(fewest context switches\): (.*)$", text, re.M)
        assert message, text
        outcome = message.group(1)
        assert "overdrawn" in outcome or "lost" in outcome
        # The timeline of that schedule is in the message, step by step.
        assert f"bank-transfer: 2 processes x 1 op, {method}, schedule {schedule}" in text
        replayed = subprocess.run([sys.executable, "-m", *shlex.split(command)], cwd=bank.path,
                                  capture_output=True, text=True, timeout=120)
        assert replayed.returncode == 1, replayed.stderr
        assert f"outcome: {outcome}" in replayed.stdout
