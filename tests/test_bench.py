"""racecourse bench: the shape of its figures, its JSON and chart, and bad input.

No timing assertions: how fast anything is depends on the machine. These tests check that
every figure is there, computed as documented (ratios against the raw Value of the same
start method and process count), and that nothing is left running.
"""

from __future__ import annotations

import json
import math
import multiprocessing
from xml.etree import ElementTree

import pytest

from racecourse import bench, control
from racecourse.bench import chart, measure
from support import leaked_shm_entries, run_cli, shm_entries, start_methods

# What bench measures and how it reports it is the same code under every start method
# (bench itself takes a list of methods); the figures' values are not asserted.
pytestmark = pytest.mark.start_method_independent
METHOD = start_methods()[0]
# Small enough for a test: one measurement per figure, a hundredth of the quick sizes.
TINY = measure.Plan(repeats=1, scale=0.01, overhead_ops=2_000, overhead_repeats=1, fast_trials=300, fast_runs=1,
                   schedules=20)
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(measure, "QUICK", TINY)


def test_bench_json_and_svg(tiny, capsys, tmp_path):
    before = shm_entries()
    picture = tmp_path / "cost.svg"
    status, out, _ = run_cli(capsys, "bench", "--quick", "--json", "--start-method", METHOD, "--svg", str(picture))
    assert status == 0
    data = json.loads(out)
    assert {"strategies", "overhead_ratio", "trials_per_s", "schedules_per_s"} <= set(data)

    strategies = data["strategies"]
    names = [s.name for s in bench.STRATEGIES]
    assert len(strategies) == len(names) * len(measure.PROCESS_COUNTS)
    assert {(s["name"], s["processes"]) for s in strategies} == {(n, p) for n in names for p in measure.PROCESS_COUNTS}
    raw = {s["processes"]: s["ops_per_s"] for s in strategies if s["name"] == "raw Value"}
    for entry in strategies:
        assert set(entry) == {"name", "processes", "start_method", "ops_per_s", "vs_raw"}
        assert entry["start_method"] == METHOD and entry["ops_per_s"] > 0
        assert entry["vs_raw"] == pytest.approx(entry["ops_per_s"] / raw[entry["processes"]], rel=1e-3)

    assert data["overhead_ratio"] > 0
    (overhead,) = data["overhead"]
    assert overhead["ratio"] == pytest.approx(overhead["racecourse_s"] / overhead["plain_s"], rel=1e-3)
    assert set(data["trials_per_s"]) == {METHOD} and data["trials_per_s"][METHOD] > 0
    assert 0 <= data["race_share"][METHOD] <= 1

    assert data["schedules_per_s"] > 0
    control = {(entry["start_method"], entry["size"]): entry for entry in data["control"]}
    assert set(control) == {(METHOD, f"{p}x{k}") for p, k in measure.CONTROL_SIZES}
    for (_, size), entry in control.items():
        processes, ops = (int(n) for n in size.split("x"))
        # Every schedule of raw-value has the same steps: a read and a write per +=.
        steps = 2 * processes * ops
        assert entry["steps_per_s"] == pytest.approx(entry["schedules_per_s"] * steps, rel=1e-3)
        assert entry["floor_round_trips_per_s"] > 0
        assert entry["vs_floor"] == pytest.approx(entry["steps_per_s"] / entry["floor_round_trips_per_s"], rel=1e-3)

    root = ElementTree.parse(picture).getroot()
    assert root.tag == SVG + "svg"
    bars = [r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]
    assert len(bars) == len(strategies)

    assert multiprocessing.active_children() == []
    assert leaked_shm_entries(before) == set()


def test_bench_text_quotes_every_figure(tiny, capsys):
    status, out, _ = run_cli(capsys, "bench", "--quick", "--start-method", METHOD)
    assert status == 0
    for strategy in bench.STRATEGIES:
        assert strategy.name in out
    assert f"{METHOD}: increments" in out and "Harness overhead" in out and "trials/s" in out
    assert "Controlled schedules:" in out
    assert all(f"{p}x{k}" in out for p, k in measure.CONTROL_SIZES) and "round trips/s" in out


def _costs():
    values = {"raw Value": 1e7, "Manager dict": 1e4, "Pool map-reduce": 3e7}
    return [measure.Cost(name, processes, "fork", value * processes, value / 1e7)
            for name, value in values.items() for processes in measure.PROCESS_COUNTS]


def test_svg_bars_are_on_a_log_scale():
    root = ElementTree.fromstring(chart.svg(_costs()))
    widths = {}
    for rect in root.iter(SVG + "rect"):
        title = rect.find(SVG + "title")
        if title is not None and title.text and ", 1 processes," in title.text:
            widths[title.text.split(",")[0]] = float(rect.get("width", "0"))
    # Each factor of ten is the same length: raw Value (1e7) is as far beyond the Manager
    # dict (1e4) as three decades are long.
    decade = (widths["raw Value"] - widths["Manager dict"]) / 3
    assert decade > 0
    assert widths["Pool map-reduce"] - widths["raw Value"] == pytest.approx(decade * math.log10(3), rel=1e-2)


def test_svg_of_nothing_is_refused():
    with pytest.raises(ValueError, match="nothing to draw"):
        chart.svg([])


def test_short_rates_and_ratios():
    assert [chart.rate(v) for v in (17_300_000, 450_000, 9_800, 312)] == ["17.3M", "450k", "9.8k", "312"]
    assert chart.ratio(2.5) == "2.5x" and chart.ratio(1 / 943) == "1/943"


def test_schedules_per_second_come_from_the_controlled_scheduler(monkeypatch):
    explored = []
    real_explore = control.explore

    def counting_explore(scenario, **options):
        result = real_explore(scenario, **options)
        explored.append((scenario.id, options.get("strategy"), result.schedules))
        return result

    monkeypatch.setattr(control, "explore", counting_explore)
    per_s, note = measure.schedules_rate(METHOD, 25)
    assert per_s is not None and per_s > 0 and "25 random schedules" in note
    assert explored == [("raw-value", "random", 10), ("raw-value", "random", 25)]  # warm-up, then measured
    assert multiprocessing.active_children() == []


BAD = [
    (["bench", "--svg", "/no/such/directory/cost.svg"], "cannot write the chart"),
    (["bench", "--start-method", "thread"], "not available here"),
    (["bench", "--quick", "--processes", "3"], "unrecognized arguments"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_bench_input_is_one_line_exit_2_nothing_measured(argv, message, capsys, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("bad input must be refused before measuring")

    monkeypatch.setattr(bench, "run_bench", must_not_run)
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "Traceback" not in err
