"""The public API on a user's own code: one keyword for the invariant, a Scenario or plain
functions as the target, racecourse.replay(), results with the JSON's fields, replay
commands that reproduce the failure; and a user's scenario file on the command line,
outside the package, under every start method."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import textwrap

import pytest

import racecourse
from racecourse import api, catalogue
from racecourse.control import ScheduleError
from racecourse.scenarios import raw_value
from support import nothing_left_behind, start_methods  # noqa: F401  (nothing_left_behind is a fixture)

METHODS = start_methods()
pytestmark = pytest.mark.usefixtures("nothing_left_behind")


# A user's code: module-level functions, so that spawn and forkserver children import them.

def open_wallet(share, processes, ops):
    """One withdrawal's worth less than the workers will ask for."""
    return {"balance": share.Value("i", 10 * (processes * ops - 1))}


def withdraw(balance, ops):
    """Check, then withdraw under the lock: the check is not part of the locked step."""
    for _ in range(ops):
        if balance.value >= 10:
            with balance.get_lock():
                balance.value -= 10


def withdraw_locked(balance, ops):
    for _ in range(ops):
        with balance.get_lock():
            if balance.value >= 10:
                balance.value -= 10


def not_overdrawn(balance):
    return None if balance.value >= 0 else f"overdrawn: {balance.value}"


WALLET = racecourse.Scenario(id="wallet", title="check, then withdraw", expect=racecourse.Expect.SAFE,
                             build=open_wallet, worker=withdraw, check=not_overdrawn)


def test_check_is_the_invariant_keyword_everywhere_and_invariant_an_alias():
    method = METHODS[0]
    by_check = racecourse.explore(withdraw, build=open_wallet, check=not_overdrawn, start_method=method)
    by_alias = racecourse.explore(withdraw, build=open_wallet, invariant=not_overdrawn, start_method=method)
    assert not by_check.ok and by_check.to_json()["outcomes"] == by_alias.to_json()["outcomes"]
    stressed = racecourse.stress(withdraw_locked, build=open_wallet, check=not_overdrawn, ops=50, trials=1,
                                 start_method=method)
    assert stressed.ok and stressed.processes == 2 and stressed.ops == 50
    with pytest.raises(TypeError, match="not both"):
        racecourse.explore(withdraw, build=open_wallet, check=not_overdrawn, invariant=not_overdrawn)
    with pytest.raises(TypeError, match="observe= .* or check="):
        racecourse.stress(withdraw, build=open_wallet)
    with pytest.raises(TypeError, match="declares its own build"):
        racecourse.explore(WALLET, build=open_wallet)
    with pytest.raises(TypeError, match="give build="):
        racecourse.explore(withdraw, check=not_overdrawn)


def test_results_carry_the_fields_of_the_json():
    result = racecourse.explore(WALLET, start_method=METHODS[0])
    data = result.to_json()
    for key in ("scenario", "strategy", "schedules", "complete", "outcomes", "failing", "deadlocks"):
        assert getattr(result, key) == data[key] or key == "scenario" and result.scenario.id == data[key]
    failure = result.first_failure
    assert data["first_failure"] == {"schedule": failure.schedule, "outcome": failure.outcome,
                                     "sized": failure.sized, "replay": failure.replay_command}
    assert "overdrawn: -10" in failure.outcome and result.complete and not result.ok
    report = result.report()
    assert f"minimal failing schedule: {failure.schedule}" in report and failure.replay_command in report
    assert failure.timeline() in report


def withdraw_then_break(balance, index):
    if balance.value >= 10 and index == 1:
        raise KeyError("card 1 was never issued")


def test_report_of_an_exploration_shows_a_workers_traceback():
    result = racecourse.explore(withdraw_then_break, build=open_wallet, check=not_overdrawn,
                                start_method=METHODS[0])
    assert not result.ok and result.errors > 0
    report = result.report()
    assert "process 1 raised KeyError" in report and "card 1 was never issued" in report
    assert 'raise KeyError("card 1 was never issued")' in report


@pytest.mark.parametrize("method", METHODS)
def test_replay_runs_one_schedule_of_a_scenario_or_of_functions(method):
    failing = racecourse.explore(WALLET, start_method=method).first_failure
    again = racecourse.replay(WALLET, schedule=failing.sized, start_method=method)
    assert (again.ok, again.outcome, again.schedule) == (False, failing.outcome, failing.schedule)
    data = again.to_json()
    assert {"schedule", "outcome", "ok", "steps"} <= set(data) and len(data["steps"]) == len(failing.schedule)
    plain = racecourse.replay(withdraw_locked, build=open_wallet, check=not_overdrawn, schedule="00000111",
                              start_method=method)
    assert plain.ok and plain.sized == "2x1:00000111" and "balance" in plain.timeline()


def test_replay_refuses_a_schedule_that_does_not_fit():
    with pytest.raises(ValueError, match="disagrees"):
        racecourse.replay(WALLET, schedule="2x1:0101", processes=3)
    with pytest.raises(ScheduleError):
        racecourse.replay(WALLET, schedule="01", start_method=METHODS[0])


def test_replay_command_of_a_declared_scenario_names_its_file_every_time():
    declared = WALLET
    # Every use, not only the first: the module keeps its own object, never a copy.
    for method in [METHODS[0], *METHODS]:
        failure = racecourse.explore(WALLET, start_method=method).first_failure
        program, command, target, *options = shlex.split(failure.replay_command)
        assert (program, command, options) == ("racecourse", "replay",
                                               ["--schedule", failure.sized, "--start-method", method])
        assert WALLET is declared and WALLET.module == ""
    found = catalogue.resolve_one(target)
    assert (found.id, found.path, found.attribute) == ("wallet", __file__, "WALLET")
    assert WALLET is declared


def test_a_scenario_and_functions_have_one_default_size():
    declared = racecourse.Scenario(id="sized", title="t", expect=racecourse.Expect.RACY, build=raw_value.build,
                                   worker=raw_value.worker, observe=raw_value.observe)
    made = api.as_scenario(raw_value.worker, build=raw_value.build, observe=raw_value.observe)
    assert declared.defaults == made.defaults == racecourse.Defaults(processes=2, ops=1_000, trials=3, timeout=30.0)


def shares_nothing(processes):
    return {"total": processes}


def test_errors_racecourse_raises_on_purpose_share_one_root():
    from racecourse.bench.measure import BenchError
    from racecourse.catalogue import UnknownScenario
    from racecourse.cli.options import UsageError
    from racecourse.control import ControlError
    from racecourse.fast_trials import NotResettable
    from racecourse.model import NotImportable
    from racecourse.remote import BadAddress, BadAuthkeyFile, Unavailable
    from racecourse.stress_runner import TrialTimeout

    for error in (racecourse.Uncontrollable, ScheduleError, ControlError, UnknownScenario, UsageError,
                  NotResettable, BadAddress, BadAuthkeyFile, Unavailable, TrialTimeout, NotImportable, BenchError):
        assert issubclass(error, racecourse.RacecourseError), error
    assert issubclass(ScheduleError, ValueError) and issubclass(UnknownScenario, LookupError)  # as before
    assert issubclass(NotImportable, TypeError)  # as before
    # Refused before any process starts: nothing is shared that control could schedule.
    with pytest.raises(racecourse.RacecourseError, match="shares nothing that racecourse can see"):
        racecourse.explore(raw_value.worker, build=shares_nothing, observe=raw_value.observe,
                           start_method=METHODS[0])


def counter_value(counter):
    return counter.value


# Declared here, with the worker and build of raw_value: found through counter_value's module.
BORROWED = racecourse.Scenario(id="borrowed", title="t", expect=racecourse.Expect.RACY, build=raw_value.build,
                               worker=raw_value.worker, observe=counter_value)


def test_a_scenario_is_located_in_the_module_that_declares_it():
    found = catalogue.locate(BORROWED)
    assert (found.module, found.path, found.attribute) == (__name__, __file__, "BORROWED")
    unnamed = racecourse.Scenario(id="nowhere", title="t", expect=racecourse.Expect.RACY, build=raw_value.build,
                                  worker=raw_value.worker, observe=raw_value.observe)
    assert catalogue.locate(unnamed) is unnamed


def test_replay_command_of_functions_reproduces_the_failure_from_another_directory(tmp_path):
    method = METHODS[0]
    result = racecourse.explore(withdraw, build=open_wallet, check=not_overdrawn, start_method=method)
    command = result.first_failure.replay_command
    assert "racecourse.replay(test_api.withdraw, build=test_api.open_wallet, check=test_api.not_overdrawn" in command
    done = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert f"schedule {result.first_failure.schedule}" in done.stdout
    assert result.first_failure.outcome in done.stdout


# -- a user's scenario file on the command line, outside the package -----------------------------

USER_FILE = textwrap.dedent('''
    """A user's wallet: withdrawals that check the balance, then take the lock.

    Shared: one balance, a Value. What goes wrong: two withdrawals both see the last
    ten in the balance before either takes it, and both take it. The fix holds the lock
    across the check and the withdrawal.
    """
    from racecourse import Expect, Scenario

    def build(share, processes, ops):
        return {"balance": share.Value("i", 10 * (processes * ops - 1))}

    def withdraw(balance, ops):
        for _ in range(ops):
            if balance.value >= 10:
                with balance.get_lock():
                    balance.value -= 10

    def withdraw_locked(balance, ops):
        for _ in range(ops):
            with balance.get_lock():
                if balance.value >= 10:
                    balance.value -= 10

    def not_overdrawn(balance):
        return None if balance.value >= 0 else f"overdrawn: {balance.value}"

    RACY = Scenario(id="user-wallet", title="check, then withdraw", expect=Expect.SAFE,
                    build=build, worker=withdraw, check=not_overdrawn)
    SAFE = Scenario(id="user-wallet-locked", title="withdraw with the check under the lock",
                    expect=Expect.SAFE, build=build, worker=withdraw_locked, check=not_overdrawn)
''')


def racecourse_command(*argv, cwd):
    """``racecourse ARGV...`` as a user runs it: a fresh interpreter, in their directory."""
    return subprocess.run([sys.executable, "-m", "racecourse", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("method", METHODS)
def test_user_scenario_file_runs_explores_and_replays(method, tmp_path):
    (tmp_path / "wallet.py").write_text(USER_FILE)
    run = racecourse_command("run", "wallet.py:SAFE", "-m", method, "--ops", "200", "--trials", "2", "--json",
                             cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert (data["scenario"], data["start_method"], len(data["trials"])) == ("user-wallet-locked", method, 2)

    explored = racecourse_command("explore", "wallet.py:RACY", "-m", method, cwd=tmp_path)
    assert explored.returncode == 1, explored.stderr
    match = re.search(r"first failing schedule: (\d+)  \((racecourse replay .*)\)$", explored.stdout, re.M)
    assert match, explored.stdout
    schedule, command = match.groups()
    assert command == f"racecourse replay wallet.py:RACY --schedule 2x1:{schedule} --start-method {method}"
    replayed = racecourse_command(*shlex.split(command)[1:], cwd=tmp_path)
    assert replayed.returncode == 1 and "outcome: overdrawn: -10" in replayed.stdout, replayed.stderr

    safe = racecourse_command("explore", str(tmp_path / "wallet.py:SAFE"), "-m", method, "--json", cwd="/")
    assert safe.returncode == 0 and json.loads(safe.stdout)["complete"], safe.stderr


def test_user_scenario_file_is_explained(tmp_path):
    (tmp_path / "wallet.py").write_text(USER_FILE)
    explained = racecourse_command("explain", "wallet.py", cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    assert "user-wallet: check, then withdraw" in explained.stdout
    assert "user-wallet-locked" in explained.stdout and "holds the lock" in explained.stdout
    assert "def withdraw_locked(balance, ops):" in explained.stdout


def test_a_failing_schedule_and_a_failed_trial_have_distinct_names():
    from racecourse import control

    assert control.FailingSchedule.__name__ != racecourse.Failure.__name__
    assert control.Failure is control.FailingSchedule  # the old name still imports
    failure = racecourse.explore(WALLET, start_method=METHODS[0]).first_failure
    assert type(failure) is control.FailingSchedule
