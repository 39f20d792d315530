"""play and replay --code show the worker's code: each process's line, which half of a +=
comes next, the locks held and awaited. The lines come from the workers themselves
(Controller(lines=True)), so these tests run real controlled processes."""

from __future__ import annotations

import inspect
import io

import pytest

from racecourse import catalogue
from racecourse.control import Controller, replay
from racecourse.worker_code import WorkerCode, augmented, half
from support import nothing_left_behind, run_cli, start_methods  # noqa: F401 - a fixture

METHOD = start_methods()[0]
pytestmark = pytest.mark.usefixtures("nothing_left_behind")


def line_of(scenario_id: str, text: str) -> int:
    """The line number, in the scenario's file, of the first line of code (not of the
    lesson's docstring, which quotes the code) that starts with ``text``."""
    path = inspect.getsourcefile(catalogue.resolve_one(scenario_id).worker)
    with open(path, encoding="utf-8") as source:
        lines = list(enumerate(source, 1))
    code = next(index for index, (_, line) in enumerate(lines) if line.startswith("def "))
    return next(number for number, line in lines[code:] if line.strip().startswith(text))


def test_every_step_carries_its_line_only_when_asked():
    scenario = catalogue.resolve_one("deadlock")
    with Controller(scenario, 2, 1, METHOD, lines=True) as controller:
        execution = replay(controller, [0] * 8 + [1] * 8, "0000000011111111")
    outer, inner = line_of("deadlock", "with source.get_lock()"), line_of("deadlock", "with target.get_lock()")
    debit, credit = line_of("deadlock", "source.value -= 1"), line_of("deadlock", "target.value += 1")
    # Inside transfer(), a helper of the worker's file: the innermost line there, not the call.
    assert [(step.kind, step.line) for step in execution.steps[:6]] == [
        ("acquire", outer), ("acquire", inner), ("read", debit), ("write", debit), ("read", credit),
        ("write", credit)]
    # A with block's release (its __exit__) is on the with line from CPython 3.10, on the
    # block's last line in 3.9 and PyPy 3.9: the interpreter's own line, either way.
    releases = [(step.kind, step.line) for step in execution.steps[6:8]]
    assert releases in ([("release", inner), ("release", outer)], [("release", credit), ("release", credit)])
    with Controller(scenario, 2, 1, METHOD) as controller:
        execution = replay(controller, [0] * 8 + [1] * 8, "0000000011111111")
    assert {step.line for step in execution.steps} == {None}


def test_play_marks_each_process_line_and_the_half_of_the_increment(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("0\n1\n1\n0\n"))
    status, out, _ = run_cli(capsys, "play", "raw-value", "-m", METHOD)
    assert status == 0
    line = line_of("raw-value", "counter.value += 1")
    marked = [row for row in out.splitlines() if row.rstrip().endswith("another process can run in between")]
    # Both processes at the += line, then (process 1 finished) only process 0.
    assert marked[0].startswith(f"  0 1  {line}          counter.value += 1")
    assert marked[-1].startswith(f"  0    {line}          counter.value += 1")
    assert f"process 0: next read counter (line {line}, the read of +=; its write comes later)" in out
    assert f"process 0: next write counter (line {line}, the write of +=; its read is done)" in out
    assert "process 1: finished" in out


def test_play_shows_locks_held_and_awaited_with_their_lines(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("0\nq\n"))
    status, out, _ = run_cli(capsys, "play", "deadlock", "-m", METHOD)
    assert status == 0
    inner = line_of("deadlock", "with target.get_lock()")
    assert f"process 0: next acquire bob.lock (line {inner}); holds alice.lock" in out
    assert "def transfer(source, target):" in out and "def worker(alice, bob, ops, index):" in out


def test_play_no_code_keeps_the_short_form(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("q\n"))
    status, out, _ = run_cli(capsys, "play", "raw-value", "-m", METHOD, "--no-code")
    assert status == 0 and "counter.value += 1" not in out
    assert "process 0: next read counter (line " in out  # the line is still named


def test_replay_code_lists_the_line_of_every_step(capsys):
    status, out, _ = run_cli(capsys, "replay", "raw-value", "--schedule", "0110", "-m", METHOD, "--code")
    assert status == 0
    line = line_of("raw-value", "counter.value += 1")
    rows = [row.split(None, 3) for row in out.splitlines()[-4:]]
    assert [row[:3] for row in rows] == [["1", "0", str(line)], ["2", "1", str(line)], ["3", "1", str(line)],
                                         ["4", "0", str(line)]]
    assert rows[0][3] == "counter.value += 1  read counter -> 0 (the read of +=; its write comes later)"
    assert rows[3][3] == "counter.value += 1  write counter <- 1 (the write of +=; its read is done) LOST"


def test_replay_without_code_is_unchanged(capsys):
    status, out, _ = run_cli(capsys, "replay", "raw-value", "--schedule", "0110", "-m", METHOD)
    assert status == 0 and "the worker (" not in out and "(the read of +=" not in out


@pytest.mark.start_method_independent
def test_which_half_of_an_augmented_assignment():
    assert augmented("counts[KEY] += 1  # a get, then a set") == "+="
    assert augmented("x //= 2") == "//=" and augmented("balance -= amount") == "-="
    assert augmented("if a >= b and c != d: pass") is None
    assert augmented("x = 1  # += in a comment") is None
    assert half("read", "counter.value += 1") == "the read of +=; its write comes later"
    assert half("write", "counter.value += 1") == "the write of +=; its read is done"
    assert half("acquire", "with lock: counter.value += 1") is None


@pytest.mark.start_method_independent
def test_worker_code_of_a_function_without_source_is_none():
    from racecourse import Expect, Scenario

    namespace: dict = {}
    exec("def worker(counter):\n    counter.value += 1\n", namespace)  # no file behind it
    scenario = Scenario(id="x", title="x", expect=Expect.RACY, build=dict, worker=namespace["worker"], observe=len)
    assert WorkerCode.of(scenario) is None
