"""A time limit per test that starts no thread: ``pytest --racecourse-timeout=SECONDS``.

A hung test (a deadlock, a worker that never answers) would otherwise hold a CI job until
the job's own limit, with nothing said about where it hung. The usual guards do not suit
a session that forks: pytest's ``faulthandler_timeout`` and pytest-timeout's thread
method put a watchdog thread in the test process, and every later fork() is then a fork
with threads (the child gets only the forking thread; a lock the other one held stays
held, and Python 3.12+ warns); pytest-timeout's signal method takes SIGALRM, which
racecourse's own deadline for program scenarios uses.

So the watchdog is a process of its own. The test process tells it, down a pipe, when
each test starts and ends (a write per test, nothing else). When a test runs past the
limit, the watchdog

1. says which test, and has the test process print the stack of each of its threads
   (``faulthandler`` on SIGUSR1: a handler in C, no thread);
2. kills the test process and every process it started (the watchdog aside), except
   multiprocessing's resource trackers, which unlink the semaphores and shared memory
   left behind once the processes using them are gone.

Under pytest-xdist the worker's crash fails that test and a new worker carries on; in a
session without xdist the session ends there, with the stacks on stderr.
"""

from __future__ import annotations

import faulthandler
import os
import select
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional

# How long the test process gets to print its stacks before it is killed.
_DUMP_SECONDS = 2.0
_POLL_SECONDS = 1.0


class Guard:
    """The test process's end: starts the watchdog and tells it about each test."""

    def __init__(self, limit: float):
        # The stacks go to the stderr the session started with (not a capture file).
        self._stacks = os.dup(2)
        faulthandler.register(signal.SIGUSR1, file=self._stacks, all_threads=True)
        # Started with Ctrl-C ignored (an ignored signal stays ignored across exec): the
        # watchdog lasts as long as the session, and Ctrl-C is the session's to handle.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self._watchdog: Optional[subprocess.Popen[bytes]] = subprocess.Popen(
                [sys.executable, "-m", "racecourse.plugin.hang_guard", str(os.getpid()), repr(limit)],
                stdin=subprocess.PIPE,
                stderr=self._stacks,
            )
        finally:
            signal.signal(signal.SIGINT, previous)

    def _tell(self, line: str) -> None:
        if self._watchdog is not None and self._watchdog.stdin is not None:
            self._watchdog.stdin.write(line.encode("utf-8", "backslashreplace") + b"\n")
            self._watchdog.stdin.flush()

    def started(self, nodeid: str) -> None:
        self._tell(nodeid.replace("\n", " ") or "?")

    def finished(self) -> None:
        self._tell("")

    def close(self) -> None:
        """End of the session: the watchdog reads end-of-file and exits."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            assert watchdog.stdin is not None
            watchdog.stdin.close()
            try:
                watchdog.wait(10)
            except subprocess.TimeoutExpired:
                watchdog.kill()
                watchdog.wait()
        faulthandler.unregister(signal.SIGUSR1)
        os.close(self._stacks)


def _parents() -> Dict[int, int]:
    """Every process's parent, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # The command name, in parentheses, may hold spaces: the fields follow the last ")".
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(entry)] = int(fields[1])
    return parents


def descendants(pid: int) -> List[int]:
    """The processes ``pid`` started, their children, and so on."""
    children: Dict[int, List[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _is_resource_tracker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"resource_tracker" in cmdline.read()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fire(pid: int, nodeid: str, limit: float) -> None:
    say = sys.stderr.write
    say(f"\nracecourse: {nodeid} ran past its {limit:g} s limit (--racecourse-timeout); "
        f"the stacks of the test process (pid {pid}):\n")
    sys.stderr.flush()
    os.kill(pid, signal.SIGUSR1)
    time.sleep(_DUMP_SECONDS)
    tree = [p for p in descendants(pid) if p != os.getpid() and not _is_resource_tracker(p)]
    # Said before the kill: whoever waits for the test process (pytest-xdist, a CI job,
    # pytester) may read the shared stderr as soon as it dies, before a later line lands.
    say(f"racecourse: killing the test process (pid {pid}) and {len(tree)} process(es) it started\n")
    sys.stderr.flush()
    for victim in [pid, *tree]:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


def watch(pid: int, limit: float) -> int:
    """The watchdog's loop: 0 when the session ended, 1 when it had to stop a test."""
    current: Optional[str] = None
    since = 0.0
    pending = b""
    while True:
        wait = _POLL_SECONDS if current is None else max(0.0, min(_POLL_SECONDS, since + limit - time.monotonic()))
        if select.select([0], [], [], wait)[0]:
            data = os.read(0, 65536)
            if not data:
                return 0  # the test process closed the pipe: the session is over
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                current, since = (line.decode("utf-8", "replace") or None), time.monotonic()
        if not _alive(pid):
            return 0
        if current is not None and time.monotonic() - since > limit:
            _fire(pid, current, limit)
            return 1


if __name__ == "__main__":
    sys.exit(watch(int(sys.argv[1]), float(sys.argv[2])))
