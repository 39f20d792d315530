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


def _block(name):
    found = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", README.read_text(), re.S)
    assert found, f"README has a generated {name} block"
    return found.group(1)


def test_synopsis_is_generated_from_the_parsers_and_names_every_option():
    import argparse

    from racecourse.cli import build_parser, synopsis

    block = _block("synopsis")
    assert block == f"```\n{synopsis()}\n```", "run: python tools/update_readme.py"
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert "racecourse --version" in block
    for name, command in commands.choices.items():
        assert f"racecourse {name}" in block
        for action in command._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert re.search(rf"[\[ |]{re.escape(option)}[\] |]", block), f"{name} {option}"


def test_bench_tables_are_the_recorded_ones():
    record = (ROOT / "benchmarks" / "results-2core.md").read_text()
    block = _block("bench")
    assert block.startswith("```\n") and block.endswith("```") and block in record


def _range(pattern):
    found = re.search(pattern, " ".join(README.read_text().split()))
    assert found, pattern
    return float(found.group(1).replace(",", "")), float(found.group(2).replace(",", ""))


def test_quoted_bench_ranges_cover_the_recorded_run():
    import json

    data = json.loads((ROOT / "benchmarks" / "results-2core.json").read_text())
    rows = data["strategies"]

    def ratios(name):
        return [row["vs_raw"] for row in rows if row["name"] == name]

    def within(values, low, high):
        return all(low <= value <= high for value in values)

    dearer = _range(r"a `Value`'s lock makes each increment (\d+) to (\d+) times dearer")
    assert within([1 / r for r in ratios("Value + get_lock")], *dearer)
    assert within([1 / r for r in ratios("separate Lock")], *_range(r"a separate `Lock` (\d+) to (\d+) times"))
    assert within(ratios("Array slot") + ratios("shared_memory"), *_range(r"\((\d\.\d) to (\d\.\d) times its rate\)"))
    assert within([1 / r for r in ratios("Manager Value") + ratios("Manager dict")],
                  *_range(r"server process, ([\d,]+) to ([\d,]+) times the price"))
    not_sharing = _range(r"\((\d\.?\d*) to (\d\.?\d*) times the raw")
    assert within(ratios("local + one locked add") + ratios("Pool map-reduce"), *not_sharing)
    assert within([o["ratio"] for o in data["overhead"]], *_range(r"overhead ratio came out between (\d\.\d+) and (\d\.\d+)"))
    assert within(list(data["trials_per_s"].values()), *_range(r"Fast trials ran ([\d,]+) to ([\d,]+) trials"))
    assert within([data["schedules_per_s"]], *_range(r"scheduler ([\d,]+) to ([\d,]+) schedules a second"))
    low, high = _range(r"`--quick` took (\d+) to (\d+) s")
    assert data["quick"] and low <= data["seconds"] <= high


def _documented_keys():
    """{object: (keys always there, keys sometimes there)} from the README's JSON list."""
    found = {}
    text = README.read_text()
    section = text[text.index("The JSON that scripts read"):text.index("## Fast trials")]
    for line in section.splitlines():
        entry = re.match(r"- \*\*([\w ]+)\*\*[^:]*?: `([^`]+)`(?:; (?:when [^,]+, )?also `([^`]+)`)?", line)
        if entry:
            name, always, sometimes = entry.groups()
            found[name] = (set(always.split(", ")), set(sometimes.split(", ")) if sometimes else set())
    return found


def test_json_keys_in_the_readme_are_the_ones_the_code_prints(capsys):
    import json

    from racecourse import catalogue
    from racecourse.results import Failure, FastRunResult, RunResult, TrialResult
    from racecourse.sharing import available_start_methods
    from support import run_cli, start_methods

    method = start_methods()[0]
    documented = _documented_keys()
    assert set(documented) == {"run", "trial", "failure", "fast run", "histogram row", "explore", "first failure",
                               "replay", "step", "provenance", "traced object", "diff", "diff method"}

    def check(name, data, sometimes=False):
        always, extra = documented[name]
        assert set(data) == (always | extra if sometimes else always), name

    _, out, _ = run_cli(capsys, "run", "locked-value", "-k", "1", "-t", "1", "--no-fast", "-m", method, "--json")
    run = json.loads(out)
    check("run", run)
    check("trial", run["trials"][0])
    scenario = catalogue.resolve_one("locked-value")
    broken = TrialResult(2, None, None, False, 0.0, violation="x", failure=Failure("exit", "exit status 1", 0))
    _, out, _ = run_cli(capsys, "run", "raw-value", "-k", "1", "-t", "1", "--no-fast", "-m", method, "--json")
    graded = json.loads(out)["trials"][0]  # raw-value grades its outcomes
    assert set(broken.to_json()) | set(graded) == set().union(*documented["trial"])
    check("failure", broken.to_json()["failure"])
    check("run", RunResult(scenario, method, 2, 1, [broken], interrupted=True, requested=3).to_json(), sometimes=True)

    _, out, _ = run_cli(capsys, "run", "raw-value", "-k", "1", "-t", "100", "--fast", "-m", method, "--json")
    fast = json.loads(out)
    check("fast run", fast)
    check("histogram row", fast["histogram"][0], sometimes=True)  # raw-value counts updates, and grades them
    failed = FastRunResult(scenario, method, 2, 1, 2, failure=Failure("exit", "exit status 1", 0)).to_json()
    check("fast run", failed, sometimes=True)
    invariant = FastRunResult(catalogue.resolve_one("check-then-act"), method, 2, 1, None, counts={"held": 3})
    always, extra = documented["histogram row"]  # check-then-act grades its outcomes, and counts nothing
    assert set(invariant.to_json()["histogram"][0]) == always | (extra - {"lost"})

    _, out, _ = run_cli(capsys, "explore", "raw-value", "-m", method, "--json")
    explored = json.loads(out)
    check("explore", explored, sometimes=True)  # raw-value grades its outcomes
    check("first failure", explored["first_failure"])
    assert explored["failures"] and all(check("first failure", failure) is None for failure in explored["failures"])
    _, out, _ = run_cli(capsys, "explore", "deadlock", "-m", method, "--json")
    deadlocked = json.loads(out)
    check("first failure", deadlocked["first_failure"], sometimes=True)
    check("first failure", deadlocked["failures"][0], sometimes=True)

    _, out, _ = run_cli(capsys, "replay", "raw-value", "--schedule", "0101", "-m", method, "--json")
    replayed = json.loads(out)
    check("replay", replayed)
    check("step", replayed["steps"][0])

    _, out, _ = run_cli(capsys, "explain", "raw-value", "--provenance", "-m", method, "--json")
    (traced,) = json.loads(out)
    check("provenance", traced)
    check("traced object", traced["objects"][0])
    # Two methods, neither of them fork: this process may be an xdist worker, which must not fork.
    unforked = ",".join(m for m in available_start_methods() if m != "fork")
    _, out, _ = run_cli(capsys, "diff", "raw-value", "--schedule", "2x1:0110", "-m", unforked, "--json")
    compared = json.loads(out)
    check("diff", compared)
    check("diff method", compared["methods"][0])
