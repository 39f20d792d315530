"""Where each object a worker uses came from, under each start method.

The question a maintainer asks when code that worked under fork fails under spawn or
forkserver (Python 3.14's Linux default) is *why*. The answer is nearly always one
object that reached the children a different way: inherited with the parent's memory
under fork, pickled into the child or re-created when the child imported the module
under the others. This module finds out, for real, in real children: for one scenario
and one start method it builds the shared state, starts a few probe children exactly as
a run would start workers (the same objects as Process arguments, the worker looked up
in the child the way a run looks it up), and has each child describe every object the
worker receives and every module-level object the worker's code names. Each object is
described by its kind and an identity that two processes share only when they share
the object itself:

- a lock, semaphore, condition, event or queue: its POSIX semaphore (the name that
  spawn and forkserver children open it by; under fork, where semaphores are unnamed,
  the address the inherited semaphore is mapped at);
- a ``Value`` or ``Array``: the file behind its shared-memory arena, and its offset;
- a ``shared_memory`` block: its name; a Manager proxy: the server and object it
  refers to;
- anything else (an int, a list): no identity, each process holds its own copy.

Comparing the parent's identity with each child's then says how the object got there
and whether the processes share it.
"""

from __future__ import annotations

import multiprocessing.managers
import multiprocessing.sharedctypes
import multiprocessing.synchronize
import os
import sys
import types
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .catalogue import worker_in_child
from .child_signals import leave_signals_to_parent, starting_children
from .errors import RacecourseError
from .model import Scenario, call_with, check_importable_worker
from .sharing import Share, startup_allowance, stop_processes

ARGUMENT = "argument"
GLOBAL = "module global"

# How an object reached a child, in words.
INHERITED = "inherited through fork"
PICKLED = "pickled into the child (Process args)"
REIMPORTED = "re-created when the child imported {module}"
PROXY = "a proxy: a new connection to its Manager server"


class ProvenanceError(RacecourseError):
    """A probe child failed or did not report: the probe did not complete."""


class NotAWorkerScenario(ProvenanceError):
    """A program scenario: its processes are the program's own, not workers it is handed."""


@dataclass(frozen=True)
class Sighting:
    """One object as one process saw it."""

    name: str
    where: str  # ARGUMENT or GLOBAL
    kind: str
    identity: Optional[str]  # None: a plain value, every process has its own copy


@dataclass
class ObjectProvenance:
    """One object, under one start method: how it reached the children, and who shares it."""

    name: str
    where: str
    kind: str
    how: str
    sharing: str
    shared: bool  # every process (parent and children) holds the very same object
    identities: Dict[str, Optional[str]] = field(default_factory=dict)  # "parent", "0", "1", ...

    def describe(self) -> str:
        return f"{self.how}; {self.sharing}"


@dataclass
class MethodProvenance:
    start_method: str
    processes: int
    objects: List[ObjectProvenance]


# -- identities ---------------------------------------------------------------------


def _semaphore(lock: Any) -> Optional[str]:
    semlock = getattr(lock, "_semlock", None)
    if semlock is None:
        return None
    name = getattr(semlock, "name", None)
    return f"semaphore {name}" if name else f"semaphore at {semlock.handle:#x}"


def _memory(ctypes_object: Any) -> Optional[str]:
    wrapper = getattr(ctypes_object, "_wrapper", None)
    if wrapper is None:
        return None
    (arena, start, _stop), _size = wrapper._state
    fd = getattr(arena, "fd", -1)
    where = f"inode {os.fstat(fd).st_ino}" if fd >= 0 else f"arena {getattr(arena, 'name', '?')}"
    return f"shared memory {where} + {start}"


def identify(value: Any) -> Tuple[str, Optional[str]]:
    """(kind, identity) of one object, as this process holds it."""
    if isinstance(value, multiprocessing.managers.BaseProxy):
        token = value._token  # type: ignore[attr-defined]
        return f"Manager {token.typeid}", f"server {token.address} object {token.id}"
    if isinstance(value, multiprocessing.sharedctypes.SynchronizedBase):
        inner = value.get_obj()
        kind = "Array (with its lock)" if hasattr(inner, "_length_") else "Value (with its lock)"
        return kind, f"{_memory(inner)}, lock {_semaphore(value.get_lock())}"
    if isinstance(value, shared_memory.SharedMemory):
        return "SharedMemory", f"block {value.name}"
    if isinstance(value, multiprocessing.synchronize.Condition):
        return "Condition", _semaphore(value._lock)  # type: ignore[attr-defined]
    if isinstance(value, multiprocessing.synchronize.Event):
        return "Event", _semaphore(value._cond._lock)  # type: ignore[attr-defined]
    if isinstance(value, multiprocessing.synchronize.SemLock):
        return type(value).__name__, _semaphore(value)
    if hasattr(value, "_rlock") and hasattr(value, "_reader"):  # the Queue family
        return type(value).__name__, _semaphore(value._rlock)
    memory = _memory(value)
    if memory is not None:
        return ("raw Array" if hasattr(value, "_length_") else "raw Value"), memory
    return type(value).__name__, None


def _globals_named(worker: Any) -> Dict[str, Any]:
    """The module-level objects the worker's code names (its own code and the code nested
    in it), leaving out modules, functions and classes: what it shares, not what it calls."""
    names: List[str] = []
    codes = [worker.__code__]
    while codes:
        code = codes.pop()
        names.extend(code.co_names)
        codes.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    module_globals = worker.__globals__
    found = {}
    for name in dict.fromkeys(names):
        if name in module_globals:
            value = module_globals[name]
            if not isinstance(value, (types.ModuleType, types.FunctionType, type, types.BuiltinFunctionType)):
                found[name] = value
    return found


def sightings(worker: Any, shared: Dict[str, Any]) -> List[Sighting]:
    """Every object the worker receives or names, as this process holds it."""
    seen = [Sighting(name, ARGUMENT, *identify(value)) for name, value in shared.items()]
    seen += [Sighting(name, GLOBAL, *identify(value)) for name, value in _globals_named(worker).items()]
    return seen


# -- the probe ----------------------------------------------------------------------


def _probe(conn: Any, target: Any, shared: Dict[str, Any]) -> None:
    """A probe child: finds the worker as a run's child would, and describes what it sees."""
    leave_signals_to_parent()
    try:
        module = target[0] if isinstance(target, tuple) else getattr(target, "__module__", "")
        imported_here = module not in sys.modules  # spawn and forkserver import it afresh
        worker = worker_in_child(target)
        conn.send(("ok", imported_here, sightings(worker, shared)))
    except BaseException as error:  # reported to the parent, which says what went wrong
        conn.send(("error", False, f"{type(error).__name__}: {error}"))
    finally:
        conn.close()


def probe(scenario: Scenario, start_method: str, processes: int = 2, ops: int = 1) -> MethodProvenance:
    """Where each object the worker uses came from under ``start_method``, found in
    ``processes`` real children. Everything it starts is gone when it returns."""
    if scenario.worker is None:
        raise NotAWorkerScenario(
            f"{scenario.id} is a program scenario: its processes are the program's own (a Pool's workers), "
            "and provenance follows the objects a worker scenario hands its workers; "
            f"'racecourse run {scenario.id} --start-method all' compares the start methods' outcomes"
        )
    check_importable_worker(scenario, start_method)
    if processes < 1:
        raise ValueError("the probe needs at least one child")
    share = Share(start_method)
    children: List[Any] = []
    receivers: List[Any] = []
    try:
        shared = call_with(scenario.build, {"share": share, "processes": processes, "ops": ops})
        parent = sightings(scenario.worker, shared)
        with starting_children(start_method):
            for _ in range(processes):
                receiver, sender = share.context.Pipe(duplex=False)
                child = share.context.Process(target=_probe, args=(sender, scenario.child_target, shared), daemon=True)
                child.start()
                sender.close()
                children.append(child)
                receivers.append(receiver)
        reports = []
        for index, receiver in enumerate(receivers):
            if not receiver.poll(startup_allowance(0)):
                raise ProvenanceError(f"{scenario.id} under {start_method}: child {index} did not report in time")
            try:
                status, imported_here, payload = receiver.recv()
            except EOFError:
                raise ProvenanceError(f"{scenario.id} under {start_method}: child {index} died before it reported") from None
            if status != "ok":
                raise ProvenanceError(f"{scenario.id} under {start_method}: child {index}: {payload}")
            reports.append((imported_here, payload))
        for child in children:
            child.join()
        return MethodProvenance(start_method, processes, _compare(scenario, start_method, parent, reports))
    finally:
        stop_processes(children, 1.0)
        for receiver in receivers:
            receiver.close()
        share.close()


def _compare(scenario: Scenario, start_method: str, parent: Sequence[Sighting],
             reports: Sequence[Tuple[bool, Sequence[Sighting]]]) -> List[ObjectProvenance]:
    module = scenario.module.rsplit(".", 1)[-1] or getattr(scenario.worker, "__module__", "its module")
    objects = []
    for number, mine in enumerate(parent):
        theirs = [list(sighted)[number] for _, sighted in reports]
        identities: Dict[str, Optional[str]] = {"parent": mine.identity}
        identities.update({str(index): seen.identity for index, seen in enumerate(theirs)})
        imported_here = any(fresh for fresh, _ in reports)
        if mine.kind.startswith("Manager "):
            how = PROXY
        elif mine.where == ARGUMENT:
            how = INHERITED if start_method == "fork" else PICKLED
        elif mine.identity is not None:
            how = INHERITED if all(seen.identity == mine.identity for seen in theirs) else REIMPORTED.format(module=module)
        else:
            how = REIMPORTED.format(module=module) if imported_here else INHERITED
        children_ids = [seen.identity for seen in theirs]
        if mine.identity is None:
            sharing, shared = "a copy in every process: nothing is shared", False
        elif all(identity == mine.identity for identity in children_ids):
            sharing, shared = f"one {mine.kind}, shared by the parent and every child", True
        elif len(set(children_ids)) == len(children_ids):
            sharing, shared = f"each child has its own ({len(children_ids)} different), none is the parent's", False
        else:
            sharing, shared = "shared by some processes only", False
        objects.append(ObjectProvenance(mine.name, mine.where, mine.kind, how, sharing, shared, identities))
    return objects


def probe_methods(scenario: Scenario, start_methods: Sequence[str], processes: int = 2) -> List[MethodProvenance]:
    return [probe(scenario, method, processes) for method in start_methods]


def why_methods_differ(results: Sequence[MethodProvenance]) -> List[str]:
    """One sentence per object that is shared under some start methods and not others:
    the reason code right under one method can be wrong under another."""
    lines: List[str] = []
    if not results:
        return lines
    for number, first in enumerate(results[0].objects):
        per_method = {result.start_method: result.objects[number] for result in results}
        sharing = {method: entry.shared for method, entry in per_method.items()}
        if len(set(sharing.values())) < 2:
            continue
        shared_under = [m for m, yes in sharing.items() if yes]
        apart_under = [m for m, yes in sharing.items() if not yes]
        apart = per_method[apart_under[0]]
        lines.append(
            f"{first.name} ({first.where}, {first.kind}): one object shared by every process under "
            f"{' and '.join(shared_under)}; under {' and '.join(apart_under)} it was {apart.how}, and "
            f"{apart.sharing}: the processes did not use the same {first.kind}"
        )
    return lines
