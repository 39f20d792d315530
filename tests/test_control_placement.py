"""A controlled run keeps its thread and workers on one CPU, and gives the thread its CPUs back.

Placement changes where the processes run, never what they do: the other control tests run
with it on and check outcomes and counts; these check the placement itself.
"""

from __future__ import annotations

import os

import pytest

from racecourse import catalogue
from racecourse.control import Controller, placement
from racecourse.control.strategies import Exhaustive
from support import run_cli

pytestmark = pytest.mark.skipif(not placement.supported(), reason="no CPU affinity on this system")


def _affinity(pid: int = 0) -> set:
    return set(os.sched_getaffinity(pid))


def test_a_run_puts_its_thread_and_workers_on_one_cpu_and_gives_the_cpus_back(start_method):
    before = _affinity()
    scenario = catalogue.resolve_one("raw-value")
    with Controller(scenario, 2, 1, start_method) as controller:
        cpu = controller.placement.cpu
        assert cpu in before
        assert _affinity() == {cpu}
        assert [_affinity(worker.pid) for worker in controller.workers] == [{cpu}, {cpu}]
        outcomes = sorted(execution.outcome for execution in Exhaustive().executions(controller, None))
    assert _affinity() == before
    # raw-value 2 x 1: the 6 interleavings of two read-write pairs, 4 of which lose an update.
    assert outcomes == ["count=1 (expected 2, 1 lost)"] * 4 + ["count=2"] * 2


def test_a_run_that_raises_still_gives_the_cpus_back(start_method):
    before = _affinity()
    scenario = catalogue.resolve_one("raw-value")

    def refuse(run):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with Controller(scenario, 2, 1, start_method) as controller:
            assert controller.placement.cpu is not None
            controller.run(refuse)
    assert _affinity() == before


def test_placement_can_be_turned_off(monkeypatch, start_method):
    monkeypatch.setenv(placement.ENVIRONMENT, "off")
    before = _affinity()
    with Controller(catalogue.resolve_one("raw-value"), 2, 1, start_method) as controller:
        assert controller.placement.cpu is None
        assert _affinity() == before
        assert [_affinity(worker.pid) for worker in controller.workers] == [before, before]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if placement.supported() else True, reason="one CPU")
def test_concurrent_runs_claim_different_cpus_until_every_cpu_has_one(tmp_path):
    allowed = sorted(os.sched_getaffinity(0))
    claims = [placement._choose(allowed, {os.getpid()}, str(tmp_path)) for _ in range(2 * len(allowed))]
    try:
        cpus = [cpu for cpu, _ in claims]
        # The first len(allowed) runs take one CPU each; the next ones a second slot of each.
        assert sorted(cpus[: len(allowed)]) == allowed
        assert sorted(cpus[len(allowed):]) == allowed
    finally:
        for _, claim in claims:
            claim.close()
    # Released claims are free again: a new run takes the first slot of a CPU.
    cpu, claim = placement._choose(allowed, {os.getpid()}, str(tmp_path))
    claim.close()
    assert os.path.exists(tmp_path / f"cpu{cpu}-0")


@pytest.mark.parametrize("setting", ["banana", "of", "-1", "4096"])
def test_a_setting_the_command_line_cannot_use_is_one_line_and_exit_2(setting, monkeypatch, capsys):
    monkeypatch.setenv(placement.ENVIRONMENT, setting)
    status, out, err = run_cli(capsys, "explore", "raw-value")
    assert status == 2 and out == ""
    assert err.strip().splitlines() == [
        f"racecourse: RACECOURSE_CONTROL_CPU must be off or a CPU this process may use "
        f"({', '.join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))}), not {setting!r}"]
