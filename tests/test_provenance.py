"""Where each object a worker uses came from, per start method (racecourse.provenance,
``racecourse explain ID --provenance``): found in real child processes, so each claim
below is what the children actually held, not what the documentation says they hold."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from racecourse import catalogue, provenance
from racecourse.sharing import available_start_methods
from support import nothing_left_behind, run_cli, scenario_file, start_methods  # noqa: F401 (a fixture)

METHODS = start_methods()
HERE = pathlib.Path(__file__).parent

pytestmark = pytest.mark.usefixtures("nothing_left_behind")


def by_name(result):
    return {entry.name: entry for entry in result.objects}


@pytest.mark.parametrize("method", METHODS)
def test_a_module_level_lock_is_shared_under_fork_only(method):
    result = provenance.probe(catalogue.resolve_one("module-lock"), method, processes=2)
    objects = by_name(result)
    assert set(objects) == {"counter", "LOCK"}
    counter, lock = objects["counter"], objects["LOCK"]
    assert (counter.where, counter.kind, counter.shared) == ("argument", "raw Value", True)
    assert (lock.where, lock.kind) == ("module global", "Lock")
    if method == "fork":
        assert counter.how == provenance.INHERITED and lock.how == provenance.INHERITED
        assert lock.shared and len(set(lock.identities.values())) == 1
    else:
        assert counter.how == provenance.PICKLED
        assert lock.how == "re-created when the child imported module_lock" and not lock.shared
        # Three different semaphores: the parent's and one per child.
        assert len(set(lock.identities.values())) == 3, lock.identities


@pytest.mark.parametrize("method", METHODS)
def test_a_module_global_int_is_a_copy_everywhere(method):
    (count,) = provenance.probe(catalogue.resolve_one("global-counter"), method).objects
    assert (count.name, count.kind, count.shared) == ("COUNT", "int", False)
    assert count.identities == {"parent": None, "0": None, "1": None}
    assert count.how == (provenance.INHERITED if method == "fork" else "re-created when the child imported global_counter")


@pytest.mark.parametrize("method", METHODS)
def test_manager_proxies_and_shared_memory_reach_every_child(method):
    objects = by_name(provenance.probe(catalogue.resolve_one("manager-dict-locked"), method))
    assert objects["counts"].kind == "Manager dict" and objects["counts"].how == provenance.PROXY
    assert objects["counts"].shared and objects["lock"].shared
    block = by_name(provenance.probe(catalogue.resolve_one("shared-memory-locked"), method))["block"]
    assert (block.kind, block.shared) == ("SharedMemory", True)


def test_a_pool_initializer_hands_every_worker_the_parents_value(start_method):
    """pool-initializer-value: the Value reaches each Pool worker as an initializer argument
    (inherited under fork, pickled otherwise), and install() puts that very Value in the
    worker's COUNTER: one Value everywhere, under every start method."""
    objects = by_name(provenance.probe(catalogue.resolve_one("pool-initializer-value"), start_method))
    assert set(objects) == {"counter", "COUNTER"}
    counter, installed = objects["counter"], objects["COUNTER"]
    assert (counter.where, counter.kind, counter.shared) == ("Pool initializer argument", "Value (with its lock)", True)
    assert counter.how == (provenance.INHERITED if start_method == "fork" else provenance.PICKLED_INTO_POOL)
    assert (installed.where, installed.kind, installed.shared) == ("module global", "Value (with its lock)", True)
    assert installed.how == "set by install() in each child"
    assert installed.identities["parent"] is None  # the parent's own COUNTER was never set
    assert {identity for who, identity in installed.identities.items() if who != "parent"} == {
        counter.identities["parent"]}


def test_a_module_level_lock_in_pool_tasks_is_the_parents_under_fork_only(start_method):
    """A Pool task's module-level Lock: each worker that ran the task reports the Lock it
    used. Under spawn and forkserver the worker made its own when it imported the module."""
    objects = by_name(provenance.probe(catalogue.resolve_one(str(HERE / "pool_module_lock.py") + ":SCENARIO"), start_method))
    lock = objects["LOCK"]
    children = {identity for who, identity in lock.identities.items() if who != "parent"}
    assert lock.kind == "Lock" and children
    if start_method == "fork":
        assert lock.shared and lock.how == provenance.INHERITED and children == {lock.identities["parent"]}
    else:
        assert not lock.shared and lock.how == "re-created when the child imported pool_module_lock"
        assert lock.identities["parent"] not in children
        assert len(children) == len(lock.identities) - 1  # every worker its own


def test_a_programs_process_arguments_are_traced(start_method):
    objects = by_name(provenance.probe(catalogue.resolve_one("manager-basics"), start_method))
    assert {"number", "arr", "items", "table"} <= set(objects)
    assert all(objects[name].where == "Process argument" and objects[name].how == provenance.PROXY
               and objects[name].shared for name in ("number", "arr", "items", "table"))


def test_what_a_program_raised_is_part_of_the_answer(start_method):
    result = provenance.probe(catalogue.resolve_one("pool-arg-value"), start_method)
    assert result.note is not None and result.note.startswith("the program raised RuntimeError: Synchronized objects")


@pytest.mark.start_method_independent  # it names its own start methods, in a process of its own
def test_the_methods_differ_only_where_an_object_is_shared_under_some():
    # A process of its own: this test process may be an xdist worker, which must not fork.
    # In this order whatever the interpreter's default (3.14 lists forkserver first): the
    # sentence names the methods in the order they were asked for.
    methods = ",".join(m for m in ("fork", "spawn", "forkserver") if m in available_start_methods())

    def trace(scenario_id):
        traced = subprocess.run([sys.executable, "-m", "racecourse", "explain", scenario_id, "--provenance", "--json",
                                 "-m", methods], capture_output=True, text=True, timeout=300)
        assert traced.returncode == 0, traced.stderr
        (report,) = json.loads(traced.stdout)
        return report

    module_lock, lock_value = trace("module-lock"), trace("lock-value")
    (why,) = module_lock["why"]
    assert why.startswith("LOCK (module global, Lock): one object shared by every process under fork; "
                          "under spawn and forkserver it was re-created when the child imported module_lock")
    assert lock_value["why"] == []  # its lock is handed to the workers: the same under every method


def test_explain_provenance_prints_a_block_per_object_and_why(capsys):
    status, out, err = run_cli(capsys, "explain", "module-lock", "--provenance", "-m", ",".join(METHODS))
    assert status == 0 and err == ""
    assert "module-lock: where each object the worker uses came from (2 children per start method)" in out
    assert "counter (argument, raw Value)" in out and "LOCK (module global, Lock)" in out
    for method in METHODS:
        assert f"  {method}" in out
    assert ("Why the start method matters here:" in out) == (len(METHODS) > 1 and "fork" in METHODS)


def test_explain_provenance_json(capsys):
    status, out, _ = run_cli(capsys, "explain", "raw-value", "--provenance", "--json", "-m", METHODS[0], "-p", "3")
    assert status == 0
    (report,) = json.loads(out)
    assert set(report) == {"scenario", "processes", "start_methods", "objects", "why", "notes"}
    assert (report["scenario"], report["processes"], report["start_methods"]) == ("raw-value", 3, [METHODS[0]])
    (counter,) = report["objects"]
    entry = counter["methods"][METHODS[0]]
    assert set(entry) == {"how", "sharing", "shared", "identities"}
    assert entry["shared"] is True and set(entry["identities"]) == {"parent", "0", "1", "2"}


def test_a_users_own_file_is_traced_too(tmp_path, capsys):
    path = scenario_file(tmp_path, "shared_config.py", '''
        """shared-config: a settings dict made at import, and a counter handed to the workers."""
        from racecourse import Expect, Scenario

        SETTINGS = {"step": 1}

        def build(share):
            return {"hits": share.Value("i", 0)}

        def worker(hits, ops):
            for _ in range(ops):
                with hits.get_lock():
                    hits.value += SETTINGS["step"]

        SCENARIO = Scenario(id="shared-config", title="t", expect=Expect.SAFE, build=build, worker=worker,
                            observe=lambda hits: hits.value)
    ''')
    status, out, _ = run_cli(capsys, "explain", str(path), "--provenance", "--json", "-m", METHODS[0])
    assert status == 0
    objects = {entry["name"]: entry for entry in json.loads(out)[0]["objects"]}
    assert objects["hits"]["kind"] == "Value (with its lock)" and objects["hits"]["methods"][METHODS[0]]["shared"]
    assert objects["SETTINGS"]["kind"] == "dict" and not objects["SETTINGS"]["methods"][METHODS[0]]["shared"]


@pytest.mark.parametrize("argv, message", [
    (["explain", str(HERE / "pool_module_lock.py") + ":NO_PROCESSES", "--provenance"],
     "starts no Pool or Process through share"),
    (["explain", "raw-value", "--json"], "--start-method, --processes and --json go with --provenance"),
    (["explain", "raw-value", "--provenance", "-p", "0"], "processes must be from 1 to 8"),
    (["explain", "raw-value", "--provenance", "-m", "thread"], "not available here"),
])
def test_bad_provenance_requests_are_one_line_and_exit_2(capsys, argv, message):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
