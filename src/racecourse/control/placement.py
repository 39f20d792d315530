"""Where a controlled run's processes run: all on one CPU, for as long as the run lasts.

A controlled run executes one process at a time: the parent says "go", one worker does
its next visible operation and answers. Nothing runs in parallel, so sharing one CPU
costs nothing, while a wake-up on another CPU costs far more than a step (measured on a
2-core VM: ~40 us against ~8 us of CPU per step; raw-value 2 x 1 ran 14,800 schedules/s
with the parent and its workers on one CPU, 2,500/s on different CPUs and 4,100/s left to
the kernel, which puts exec'd children (spawn, forkserver) on the idle CPU).

So a :class:`Placement` pins the controlling thread and every worker (each of its threads)
to one CPU of those the process may use, and gives the thread its old CPUs back at
:meth:`Placement.release`. The CPU is chosen so that concurrent controlled runs (two
pytest-xdist workers, say) spread over the CPUs instead of piling onto one: each run
claims a slot of a CPU with a non-blocking ``flock`` on a file in the temporary folder
(released by the kernel if the run dies), taking the first free slot of the least
claimed CPU, the one with the fewest other runnable processes first among equals.

``RACECOURSE_CONTROL_CPU=off`` leaves placement to the operating system; a CPU number
pins there. Where affinity does not exist (macOS, Windows) placement does nothing.
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Any, Dict, Iterable, List, Optional, Set

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

ENVIRONMENT = "RACECOURSE_CONTROL_CPU"
_SLOTS = 16  # claims per CPU tried before a run goes unclaimed (then it takes the least busy CPU)


_placed: Dict[int, int] = {}  # thread -> its CPU, while a placement holds it


def supported() -> bool:
    return hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")


class Placement:
    """One CPU for a controlled run (or, when placement is off or unsupported, none)."""

    def __init__(self, cpu: Optional[int] = None, thread: Optional[int] = None, saved: Optional[Set[int]] = None,
                 claim: Optional[Any] = None) -> None:
        self.cpu = cpu  # None: the operating system places the processes
        self._thread = thread
        self._saved = saved
        self._claim = claim

    def pin(self, pids: Iterable[Optional[int]]) -> None:
        """Put these processes (every thread of each) on the run's CPU."""
        if self.cpu is None:
            return
        for pid in pids:
            if pid is not None:
                for task in _threads(pid):
                    try:
                        os.sched_setaffinity(task, {self.cpu})
                    except OSError:  # gone already, or not ours to move: it still works, only slower
                        pass

    def release(self) -> None:
        """Give the controlling thread its CPUs back and drop the claim; safe to call twice."""
        if self._saved is not None and self._thread is not None:
            try:
                os.sched_setaffinity(self._thread, self._saved)
            except OSError:
                pass
            self._saved = None
            _placed.pop(self._thread, None)
        if self._claim is not None:
            self._claim.close()  # closing the file releases its flock
            self._claim = None


def setting_problem() -> Optional[str]:
    """What is wrong with RACECOURSE_CONTROL_CPU, in one line, or None. ``place`` itself
    takes a value it cannot use as unset (the API keeps working); the command line refuses
    it, so that a mistyped setting is not silently ignored."""
    setting = os.environ.get(ENVIRONMENT, "").strip().lower()
    if setting in ("", "off", "no", "false") or not supported():
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if setting.isdigit() and int(setting) in allowed:
        return None
    usable = ", ".join(str(cpu) for cpu in allowed)
    return f"{ENVIRONMENT} must be off or a CPU this process may use ({usable}), not {setting!r}"


def place(pids: List[Optional[int]]) -> Placement:
    """Choose the run's CPU and pin the calling thread and these processes to it.

    Call it once the run's processes are started: a process started by the thread while
    it is pinned (a forkserver, the resource tracker) would keep the one CPU for good."""
    setting = os.environ.get(ENVIRONMENT, "").strip().lower()
    if not supported() or setting in ("off", "no", "false"):
        return Placement()
    thread = threading.get_native_id() if hasattr(threading, "get_native_id") else 0
    already = _placed.get(thread)
    if already is not None:  # a second run from a thread already placed: same CPU, nothing to restore
        placement = Placement(already)
        placement.pin(pids)
        return placement
    allowed = sorted(os.sched_getaffinity(thread))
    claim: Optional[Any] = None
    if setting.isdigit() and int(setting) in allowed:
        cpu = int(setting)
    elif len(allowed) == 1:
        cpu = allowed[0]
    else:
        cpu, claim = _choose(allowed, {os.getpid(), *(pid for pid in pids if pid is not None)})
    saved = set(allowed)
    try:
        os.sched_setaffinity(thread, {cpu})
    except OSError:  # not permitted here (a container's cpuset changed): leave it to the system
        if claim is not None:
            claim.close()
        return Placement()
    _placed[thread] = cpu
    placement = Placement(cpu, thread, saved, claim)
    placement.pin(pids)
    return placement


def claims_folder() -> str:
    """Where runs of this user claim their CPUs (one file per CPU and slot)."""
    return os.path.join(tempfile.gettempdir(), f"racecourse-cpus-{_user()}")


def _choose(allowed: List[int], ours: Set[int], folder: Optional[str] = None) -> Any:
    """The least claimed CPU (the least busy first among equals, not counting the run's own
    processes ``ours``), with its claim held open."""
    runnable = _runnable_per_cpu(allowed, ours)
    order = sorted(allowed, key=lambda cpu: runnable.get(cpu, 0))
    if fcntl is None:
        return order[0], None
    folder = folder or claims_folder()
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return order[0], None
    for slot in range(_SLOTS):
        for cpu in order:
            claim = _try_claim(os.path.join(folder, f"cpu{cpu}-{slot}"))
            if claim is not None:
                return cpu, claim
    return order[0], None


def _try_claim(path: str) -> Optional[Any]:
    try:
        handle = open(path, "a")
    except OSError:
        return None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _user() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else "user"


def _runnable_per_cpu(cpus: List[int], ours: Set[int], looks: int = 3) -> Dict[int, int]:
    """How many other processes (not ``ours``) were running or waiting to run on each CPU,
    summed over a few looks at /proc (a CPU hog is there every time; empty where /proc
    cannot tell)."""
    counts = dict.fromkeys(cpus, 0)
    for _ in range(looks):
        try:
            pids = [name for name in os.listdir("/proc") if name.isdigit() and int(name) not in ours]
        except OSError:
            return {}
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as stat:
                    fields = stat.read().rpartition(b")")[2].split()
                if fields[0] == b"R":
                    cpu = int(fields[36])
                    if cpu in counts:
                        counts[cpu] += 1
            except (OSError, ValueError, IndexError):  # gone meanwhile
                continue
    return counts


def _threads(pid: int) -> List[int]:
    """Every thread of a process (a Manager server answers each client on its own thread)."""
    try:
        return [int(task) for task in os.listdir(f"/proc/{pid}/task")]
    except (OSError, ValueError):
        return [pid]
