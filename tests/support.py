"""Helpers shared by the test modules."""

from __future__ import annotations

import multiprocessing
import os
import pathlib
import textwrap
import time
from typing import Any, Iterator, List, Set, Tuple

import pytest

from racecourse.plugin.pytest_plugin import START_METHOD_VARIABLE  # one name, the plugin's
from racecourse.sharing import available_start_methods


def start_methods() -> List[str]:
    """The start methods this test session covers: the tox factor's one, else all available,
    except fork inside a pytest-xdist worker (whose reader thread makes every fork() one
    with threads; conftest.py explains): `pytest -n 2` covers spawn and forkserver, and
    `RACECOURSE_START_METHOD=fork pytest` the fork start method."""
    chosen = os.environ.get(START_METHOD_VARIABLE)
    if chosen:
        return [chosen]
    methods = available_start_methods()
    if "PYTEST_XDIST_WORKER" in os.environ:
        methods = [m for m in methods if m != "fork"]
    return methods


def shm_entries() -> Set[str]:
    """Named semaphores and shared-memory blocks that multiprocessing leaves in /dev/shm."""
    try:
        names = os.listdir("/dev/shm")
    except FileNotFoundError:
        return set()
    return {n for n in names if n.startswith(("sem.", "psm_", "wnsm_", "mp-"))}


def _mapped_shm_inodes() -> Set[int]:
    """Inodes of /dev/shm files that some live process has mapped, whoever it belongs to.

    Inodes, not names: glibc creates a named semaphore under a temporary name, maps it and
    only then links it to its real name, so /proc/PID/maps shows the temporary one.
    """
    mapped: Set[int] = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/maps") as maps:
                for line in maps:
                    if "/dev/shm/" in line:
                        mapped.add(int(line.split()[4]))
        except (OSError, ValueError, IndexError):  # ended while we looked, or not ours
            continue
    return mapped


def _unmapped(names: Set[str]) -> Set[str]:
    mapped = _mapped_shm_inodes()
    orphans = set()
    for name in names:
        try:
            inode = os.stat(os.path.join("/dev/shm", name)).st_ino
        except FileNotFoundError:  # its owner unlinked it meanwhile
            continue
        if inode not in mapped:
            orphans.add(name)
    return orphans


def leaked_shm_entries(before: Set[str], settle_seconds: float = 5.0) -> Set[str]:
    """Entries that appeared since `before` and that no live process holds any more.

    /dev/shm is shared by everything on the machine, including the other pytest-xdist
    workers, so "new since the test began" is not enough: another worker's run holds its
    semaphores open while it works. Something racecourse left behind is different: it
    stays in /dev/shm while no process maps it. An entry that disappears within
    `settle_seconds` was being cleaned up by its owner (an unlink that follows a close)
    and does not count.
    """
    deadline = time.monotonic() + settle_seconds
    while True:
        orphans = _unmapped(shm_entries() - before)
        if not orphans or time.monotonic() > deadline:
            return orphans
        time.sleep(0.1)


@pytest.fixture
def nothing_left_behind() -> Iterator[None]:
    """The test leaves no child process and no orphaned semaphore or shared-memory block."""
    before = shm_entries()
    yield
    assert multiprocessing.active_children() == []
    assert leaked_shm_entries(before) == set()


def scenario_file(directory: pathlib.Path, name: str, source: str) -> pathlib.Path:
    """A user's scenario file ``name`` in ``directory``, from (indented) ``source``."""
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def run_cli(capsys: Any, *argv: str) -> Tuple[int, str, str]:
    """``racecourse ARGV...`` in this process: the exit status, stdout and stderr."""
    from racecourse.cli import main

    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def session_processes(session: int) -> List[int]:
    """Live processes in a session (a command started with ``start_new_session=True``
    is the leader of one; every process it starts stays in it unless it calls setsid)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # ended while we looked
            continue
        # After "pid (comm)": state, ppid, pgrp, session. Zombies are already gone as
        # far as leaks go: their parent only has to reap them.
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(pid))
    return found


def leftover_processes(session: int, settle_seconds: float = 10.0) -> List[int]:
    """Processes still alive in ``session`` after ``settle_seconds`` (a process that is
    exiting, such as a resource tracker whose parent just ended, gets time to go)."""
    deadline = time.monotonic() + settle_seconds
    while True:
        alive = session_processes(session)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def announce_then_sleep(path: str, seconds: float) -> None:
    """A Pool task that says it has started (creates ``path``), then keeps its worker busy."""
    open(path, "w").close()
    time.sleep(seconds)


def meet(directory: str, count: int, index: int) -> int:
    """A Pool task that waits (up to a minute) until ``count`` tasks have arrived: run as
    ``count`` tasks with chunksize 1, it makes every worker of the Pool take one."""
    open(os.path.join(directory, f"arrived-{index}"), "w").close()
    deadline = time.monotonic() + 60
    while len(os.listdir(directory)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return index
