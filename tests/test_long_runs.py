"""Long runs: progress on stderr wherever it goes (a terminal, a pipe, a log), at a rate a
log can bear, never on stdout; Ctrl-C prints what was finished before exiting 130."""

from __future__ import annotations

import io
import json

import pytest

from racecourse.report import PIPED_PROGRESS_SECONDS, ProgressLine
from support import run_cli, scenario_file, start_methods

METHOD = start_methods()[0]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def progress_at(times, mode="auto", stream=None):
    """What a ProgressLine writes when updated at each of ``times`` (seconds from its start)."""
    clock = Clock()
    out = stream if stream is not None else io.StringIO()
    line = ProgressLine(out, mode=mode, clock=clock)
    start = clock.now
    for done, moment in enumerate(times, 1):
        clock.now = start + moment
        line.update("raw-value", done, len(times))
    return out.getvalue()


def test_piped_progress_is_a_line_at_most_every_few_seconds_and_none_for_short_work():
    assert PIPED_PROGRESS_SECONDS == 5.0
    assert progress_at([0.5, 1, 2, 4.9]) == ""  # shorter than 5 s: nothing at all
    written = progress_at([1, 5, 6, 9.9, 10, 10.5, 16])
    assert written.splitlines() == ["racecourse: raw-value: 2 of 7", "racecourse: raw-value: 5 of 7",
                                    "racecourse: raw-value: 7 of 7"]
    assert "\r" not in written and "\033" not in written  # plain lines for a log


def test_progress_option_shows_it_from_the_start_and_quiet_shows_nothing():
    assert progress_at([0, 1, 5], mode="always").splitlines() == ["racecourse: raw-value: 1 of 3",
                                                                  "racecourse: raw-value: 3 of 3"]
    assert progress_at([0, 5, 60, 600], mode="never") == ""
    assert progress_at([0, 5, 60], mode="never", stream=Terminal()) == ""


def test_a_terminal_gets_one_line_rewritten_after_a_second():
    written = progress_at([0.5, 1.5, 1.6], stream=Terminal())
    assert written.count("\r") == 2 and written.startswith("\rraw-value") and "2/3" in written and "1/3" not in written


def test_progress_goes_to_stderr_and_json_on_stdout_stays_clean(capsys):
    status, out, err = run_cli(capsys, "run", "locked-value", "-k", "10", "-t", "2", "--no-fast", "-m", METHOD,
                               "--progress", "--json")
    assert status == 0 and json.loads(out)["scenario"] == "locked-value"
    assert err.splitlines()[0] == "racecourse: locked-value: 1 of 2"
    status, out, err = run_cli(capsys, "run", "locked-value", "-k", "10", "-t", "2", "--no-fast", "-m", METHOD,
                               "--quiet")
    assert status == 0 and err == "" and "exact" in out


def test_progress_and_quiet_are_exclusive(capsys):
    status, _, err = run_cli(capsys, "run", "raw-value", "--progress", "--quiet")
    assert status == 2 and err.count("\n") == 1 and "not allowed with argument" in err


# The second scenario's build is Ctrl-C'd in its second trial (build runs in the parent).
INTERRUPTED = '''
"""two scenarios, the second interrupted."""
from racecourse import Defaults, Expect, Scenario
from racecourse.scenarios.locked_value import build, observe, worker

BUILT = []


def build_then_interrupt(share):
    BUILT.append(1)
    if len(BUILT) == 2:
        raise KeyboardInterrupt
    return build(share)


FIRST = Scenario(id="finished", title="t", expect=Expect.SAFE, build=build, worker=worker, observe=observe,
                 defaults=Defaults(ops=10, trials=2))
SECOND = Scenario(id="interrupted", title="t", expect=Expect.SAFE, build=build_then_interrupt, worker=worker,
                  observe=observe, defaults=Defaults(ops=10, trials=5))
'''


@pytest.fixture
def interrupted_file(tmp_path):
    return scenario_file(tmp_path, "interrupted.py", INTERRUPTED)


def test_ctrl_c_prints_the_scenarios_finished_and_the_trials_so_far(capsys, interrupted_file):
    status, out, err = run_cli(capsys, "run", str(interrupted_file), "--no-fast", "-m", METHOD, "--quiet")
    assert status == 130
    assert err == "racecourse: interrupted; every process it started has been stopped\n"
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    assert rows["finished"][7] == "ok" and rows["interrupted"][7] == "stopped"
    text = " ".join(out.split())  # the verdicts, wrapped or not
    assert "exact: 40 of 40 updates" in text and "interrupted after 1 of 5 trials: exact: 20 of 20 updates" in text


def test_ctrl_c_with_json_prints_the_json_of_what_was_finished(capsys, interrupted_file):
    status, out, _ = run_cli(capsys, "run", str(interrupted_file), "--no-fast", "-m", METHOD, "--json")
    finished, interrupted = json.loads(out)
    assert status == 130
    assert (finished["scenario"], finished["exit_status"], "interrupted" in finished) == ("finished", 0, False)
    assert (interrupted["interrupted"], interrupted["requested_trials"], len(interrupted["trials"])) == (True, 5, 1)
    assert interrupted["exit_status"] == 130


def test_explore_progress_goes_to_stderr_and_its_json_stays_clean(capsys):
    status, out, err = run_cli(capsys, "explore", "raw-value", "-m", METHOD, "--progress", "--json")
    assert status == 0 and json.loads(out)["scenario"] == "raw-value"
    assert err.splitlines()[0] == "racecourse: raw-value: 1 schedule, 0 failing, about 3 left (estimate), budget 20,000"
    status, out, err = run_cli(capsys, "explore", "raw-value", "-m", METHOD, "--quiet")
    assert status == 0 and err == ""


def test_explore_progress_on_a_terminal_is_one_line_rewritten():
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "racecourse", "explore", "raw-value", "-m", METHOD, "-s", "random", "-b", "20",
             "--progress", "--json"],
            stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL, timeout=120,
        )
        os.close(follower)
        follower = -1
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # Linux: EIO once the terminal's other end is closed and drained
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0 and json.loads(done.stdout)["schedules"] == 20  # stdout: the JSON alone
    text = seen.decode()
    assert "\rraw-value: 1 schedule, " in text and "\rraw-value: 20 schedules, " in text and "0 to go" in text
    assert text.endswith("\r\033[K")  # the line is cleared at the end
