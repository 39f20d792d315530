"""The remote Manager: ``racecourse serve``, ``run --connect``, authkeys, and two network namespaces.

Servers run as separate commands (``python -m racecourse serve``) in sessions of their own;
every test stops them and checks that no process of theirs is left.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from racecourse import remote, stress_runner
from racecourse.cli import main
from support import leftover_processes, start_methods

METHOD = start_methods()[0]
WAIT_SECONDS = 60.0
SERVING = re.compile(r"serving counters and locks on ([\w.-]+:\d+)")


def racecourse(*args, **kwargs):
    return [*kwargs.pop("prefix", []), sys.executable, "-m", "racecourse", *args]


class Server:
    """``racecourse serve`` in a session of its own."""

    def __init__(self, key_file, address="127.0.0.1:0", prefix=()):
        self.process = subprocess.Popen(
            racecourse("serve", "--address", address, "--authkey-file", str(key_file), prefix=list(prefix)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        self.first_line = self.process.stdout.readline()  # printed once it listens
        found = SERVING.search(self.first_line)
        if found is None:
            self.stop()
            raise AssertionError(f"serve did not start: {self.first_line!r} {self.stderr}")
        self.address = found.group(1)

    def stop(self, how=signal.SIGINT):
        if self.process.poll() is None:
            self.process.send_signal(how)
        out, self.stderr = self.process.communicate(timeout=WAIT_SECONDS)
        self.stdout = self.first_line + out
        assert leftover_processes(self.process.pid) == []
        return self.process.returncode


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "authkey"
    path.write_text(uuid.uuid4().hex + "\n")
    return path


@pytest.fixture
def server(key_file):
    running = Server(key_file)
    yield running
    if running.process.poll() is None:
        running.stop()
    # A test that killed the server never called stop(), which closes its pipes (PyPy
    # reported them unclosed at a later collection).
    for stream in (running.process.stdout, running.process.stderr):
        stream.close()


def run(*args, **kwargs):
    return subprocess.run(racecourse(*args, **kwargs), capture_output=True, text=True, timeout=WAIT_SECONDS, check=False)


def test_workers_connect_to_a_served_counter_and_lock(server, key_file):
    safe = run("run", "remote-manager-locked", "--connect", server.address, "--authkey-file", str(key_file),
               "-p", "3", "-k", "300", "-t", "2", "-m", METHOD, "--json")
    assert safe.returncode == 0, safe.stderr
    trials = json.loads(safe.stdout)["trials"]
    assert [(t["expected"], t["observed"]) for t in trials] == [(900, 900), (900, 900)]
    racy = run("run", "remote-manager", "--connect", server.address, "--authkey-file", str(key_file),
               "-k", "300", "-t", "1", "-m", METHOD, "--json")
    assert racy.returncode == 0, racy.stderr
    (trial,) = json.loads(racy.stdout)["trials"]
    assert 2 <= trial["observed"] <= 600  # the bounds of tests/test_properties.py
    assert server.stop() == 130
    key = key_file.read_text().strip()
    for output in (safe.stdout, safe.stderr, racy.stdout, racy.stderr, server.stdout, server.stderr):
        assert key not in output


def test_a_wrong_authkey_is_refused_in_one_line(server, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("not the key\n")
    done = run("run", "remote-manager", "--connect", server.address, "--authkey-file", str(wrong))
    assert done.returncode == 4 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"racecourse: the Manager server at {server.address} refused the authkey: authentication failed"
    ]


def test_no_server_at_the_address(key_file):
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    done = run("run", "remote-manager", "--connect", f"127.0.0.1:{port}", "--authkey-file", str(key_file))
    assert done.returncode == 4 and done.stdout == ""
    assert done.stderr.startswith(f"racecourse: cannot reach a Manager server at 127.0.0.1:{port}")
    assert len(done.stderr.splitlines()) == 1


def test_served_server_killed_mid_run(server, key_file, tmp_path):
    scenario = tmp_path / "endless_remote.py"
    scenario.write_text(textwrap.dedent('''
        """endless-remote: remote-manager's workers, told to go on until the server goes."""
        import os
        from racecourse import Defaults, Expect, Scenario
        from racecourse.remote import RemoteManager
        from racecourse.scenarios.remote_manager import build, observe

        def worker(address, authkey, name, index):
            manager = RemoteManager(address=address, authkey=authkey)
            manager.connect()
            counter = manager.counter(name)
            if index == 0:
                open(os.path.join(os.path.dirname(__file__), "running"), "w").close()
            while True:
                counter.value += 1

        SCENARIO = Scenario(id="endless-remote", title="t", expect=Expect.RACY, build=build, worker=worker,
                            observe=observe, defaults=Defaults(trials=1, timeout=60))
    '''))
    command = subprocess.Popen(
        racecourse("run", str(scenario), "--connect", server.address, "--authkey-file", str(key_file), "-m", METHOD,
                   "--json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not (tmp_path / "running").exists() and command.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        server.process.kill()
        out, err = command.communicate(timeout=WAIT_SECONDS)
    finally:
        if command.poll() is None:
            command.kill()
    assert command.returncode == 3, err
    (trial,) = json.loads(out)["trials"]
    assert trial["failure"]["who"] == f"the Manager server at {server.address}"
    assert trial["failure"]["message"].startswith("no longer answers")
    assert leftover_processes(command.pid) == []


def test_serve_generates_a_private_key_and_never_prints_it(tmp_path):
    key_file = tmp_path / "new-key"
    served = Server(key_file)
    assert served.address.startswith("127.0.0.1:")  # loopback unless told otherwise
    assert "a new authkey written to" in served.first_line
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 32
    assert served.stop(signal.SIGTERM) == 143  # as the README promises for SIGTERM
    assert "server stopped" in served.stdout
    assert key not in served.stdout + served.stderr
    again = Server(key_file)  # an existing key file is used, not replaced
    assert "authkey from" in again.first_line and key_file.read_text().strip() == key
    assert again.stop() == 130  # Ctrl-C


def test_serve_bad_input_is_one_line_and_exit_2(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        in_use = f"127.0.0.1:{taken.getsockname()[1]}"
        cases = [
            (["--address", in_use, "--authkey-file", str(tmp_path / "k")], "cannot listen on"),
            (["--address", "127.0.0.1:99999", "--authkey-file", str(tmp_path / "k")], "port must be from 0 to 65535"),
            (["--address", "[::1]:5000", "--authkey-file", str(tmp_path / "k")], "IPv4 only"),
            (["--address", "nonsense", "--authkey-file", str(tmp_path / "k")], "HOST:PORT"),
            (["--authkey-file", str(empty)], "is empty"),
            (["--authkey-file", str(tmp_path)], "cannot read authkey file"),
            ([], "--authkey-file"),
        ]
        for argv, message in cases:
            done = run("serve", *argv)
            assert done.returncode == 2, (argv, done.stderr)
            assert len(done.stderr.splitlines()) == 1 and message in done.stderr, (argv, done.stderr)
            assert "Traceback" not in done.stderr


RUN_BAD_INPUT = [
    (["--connect", "127.0.0.1:5000"], "--connect needs --authkey-file"),
    (["--authkey-file", "KEY"], "--authkey-file goes with --connect"),
    (["--connect", "127.0.0.1:0", "--authkey-file", "KEY"], "port must be from 1 to 65535"),
    (["--connect", "somewhere", "--authkey-file", "KEY"], "HOST:PORT"),
    (["--connect", "127.0.0.1:5000", "--authkey-file", "MISSING"], "cannot read authkey file"),
]


@pytest.mark.parametrize("argv, message", RUN_BAD_INPUT, ids=[" ".join(a) for a, _ in RUN_BAD_INPUT])
def test_run_connect_bad_input_is_exit_2_with_nothing_started(argv, message, key_file, capsys, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("bad input must be refused before anything starts")

    monkeypatch.setattr(stress_runner, "run", must_not_run)
    monkeypatch.setattr(remote, "probe", must_not_run)
    argv = [str(key_file) if a == "KEY" else str(key_file) + ".missing" if a == "MISSING" else a for a in argv]
    status = main(["run", "remote-manager", *argv])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_served_objects_live_while_a_client_holds_them():
    name = uuid.uuid4().hex
    counter = remote.counter(name)
    assert remote.counter(name) is counter and remote.lock(name) is remote.lock(name)
    counter.set(5)
    assert remote.counter(name).get() == 5
    del counter
    gc.collect()
    assert name not in remote._counters and name not in remote._locks  # a server keeps nothing


def test_addresses_parse():
    assert remote.parse_address("10.0.0.1:5000") == ("10.0.0.1", 5000)
    assert remote.parse_address("localhost:0", allow_any_port=True) == ("localhost", 0)
    assert repr(remote.Endpoint(("h", 1), b"secret")).count("secret") == 0  # never in a repr


# -- two network namespaces ---------------------------------------------------------------


def _netns_usable():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"rcprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True, check=False)
    return made.returncode == 0


@pytest.fixture
def namespaces():
    """Two network namespaces joined by a veth pair: (server ns, its address, client ns)."""
    if not _netns_usable():
        pytest.skip("needs root and a working 'ip netns' (iproute2)")
    tag = f"{os.getpid() % 100000}"
    server_ns, client_ns = f"rcsrv{tag}", f"rccli{tag}"
    subnet = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
    steps = [
        ["ip", "netns", "add", server_ns],
        ["ip", "netns", "add", client_ns],
        ["ip", "link", "add", f"rcs{tag}", "type", "veth", "peer", "name", f"rcc{tag}"],
        ["ip", "link", "set", f"rcs{tag}", "netns", server_ns],
        ["ip", "link", "set", f"rcc{tag}", "netns", client_ns],
        ["ip", "-n", server_ns, "addr", "add", f"{subnet}.1/24", "dev", f"rcs{tag}"],
        ["ip", "-n", client_ns, "addr", "add", f"{subnet}.2/24", "dev", f"rcc{tag}"],
        ["ip", "-n", server_ns, "link", "set", f"rcs{tag}", "up"],
        ["ip", "-n", client_ns, "link", "set", f"rcc{tag}", "up"],
        ["ip", "-n", server_ns, "link", "set", "lo", "up"],
        ["ip", "-n", client_ns, "link", "set", "lo", "up"],
    ]
    try:
        for step in steps:
            made = subprocess.run(step, capture_output=True, text=True, check=False)
            if made.returncode != 0:  # e.g. no veth support in this kernel or container
                pytest.skip(f"cannot set up the namespaces: {' '.join(step)}: {made.stderr.strip()}")
        yield server_ns, f"{subnet}.1", client_ns
    finally:
        for name in (server_ns, client_ns):  # deleting a namespace deletes its end of the veth
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert server_ns not in listed and client_ns not in listed


def test_server_and_workers_in_two_network_namespaces(namespaces, key_file, tmp_path):
    server_ns, server_ip, client_ns = namespaces
    served = Server(key_file, address=f"{server_ip}:0", prefix=["ip", "netns", "exec", server_ns])
    try:
        assert served.address.startswith(server_ip + ":")
        within = ["ip", "netns", "exec", client_ns]
        done = run("run", "remote-manager-locked", "--connect", served.address, "--authkey-file", str(key_file),
                   "-t", "1", "-m", METHOD, "--json", prefix=within)
        assert done.returncode == 0, done.stderr
        (trial,) = json.loads(done.stdout)["trials"]
        assert trial["expected"] == trial["observed"] == 1000
        wrong = tmp_path / "wrong"
        wrong.write_text("nope\n")
        refused = run("run", "remote-manager", "--connect", served.address, "--authkey-file", str(wrong),
                      prefix=within)
        assert refused.returncode == 4 and "authentication failed" in refused.stderr
        # The server is not on the client's loopback: the namespaces really are apart.
        port = served.address.rsplit(":", 1)[1]
        apart = run("run", "remote-manager", "--connect", f"127.0.0.1:{port}", "--authkey-file", str(key_file),
                    prefix=within)
        assert apart.returncode == 4 and "cannot reach" in apart.stderr
    finally:
        assert served.stop() == 130
    assert "reachable from other machines" in served.stderr
