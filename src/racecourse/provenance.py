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

A program scenario starts its processes itself. Its program runs once, small, with a
Share whose Pools and Processes report from each child: a Pool's initializer arguments
and the globals the initializer names (after it ran: it is what sets them), a Process's
arguments and the globals its target names, and the globals each Pool task function
names, from every worker that ran it.
"""

from __future__ import annotations

import functools
import inspect
import multiprocessing.managers
import multiprocessing.sharedctypes
import multiprocessing.synchronize
import os
import sys
import time
import types
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from .catalogue import worker_in_child
from .child_signals import leave_signals_to_parent, starting_children
from .errors import RacecourseError
from .model import Scenario, call_with, check_importable_worker
from .sharing import Share, startup_allowance, stop_processes

ARGUMENT = "argument"
GLOBAL = "module global"
# Where the objects of a program scenario's own processes come from.
INITIALIZER_ARGUMENT = "Pool initializer argument"
PROCESS_ARGUMENT = "Process argument"

# How an object reached a child, in words.
INHERITED = "inherited through fork"
PICKLED = "pickled into the child (Process args)"
PICKLED_INTO_POOL = "pickled into the child (Pool initializer)"
REIMPORTED = "re-created when the child imported {module}"
SET_IN_CHILD = "set by {function}() in each child"
PROXY = "a proxy: a new connection to its Manager server"


class ProvenanceError(RacecourseError):
    """A probe child failed or did not report: the probe did not complete."""


class NotAWorkerScenario(ProvenanceError):
    """A program scenario whose processes racecourse cannot follow (it makes neither a Pool
    nor a Process through ``share``)."""


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
    note: Optional[str] = None  # a program scenario's program that raised, in one line


# -- identities ---------------------------------------------------------------------


def _semaphore(lock: Any) -> Optional[str]:
    semlock = getattr(lock, "_semlock", None)
    if semlock is None:
        return None
    name = getattr(semlock, "name", None)
    if name:
        return f"semaphore {name}"
    # An unnamed semaphore (fork's) is the page of a shared-memory file that was removed
    # once mapped: its inode names it in every process that maps it. Its address does not
    # (two children that each made one can map theirs at the same address).
    inode = _mapped_inode(semlock.handle)
    return f"semaphore inode {inode}" if inode is not None else f"semaphore at {semlock.handle:#x}"


def _mapped_inode(address: int) -> Optional[int]:
    """The inode of the file mapped at ``address`` in this process (Linux), or None."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                start, stop = (int(end, 16) for end in fields[0].split("-"))
                if start <= address < stop:
                    return int(fields[4]) or None
    except (OSError, ValueError, IndexError):
        pass
    return None


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
        return _probe_program(scenario, start_method, processes, ops)
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


# -- program scenarios: the children of the program's own Pools and Processes ------------


@dataclass
class _Site:
    """One Pool or Process the program made through ``share``, as the parent saw it."""

    what: str  # "Pool" or "Process"
    function: Any  # the Pool's initializer, the Process's target (or None)
    seen: List[Sighting]  # its arguments and the globals the function names, in the parent
    children: int = 0  # how many children will report


def _arguments(function: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The objects handed to ``function``, by the names of its parameters where it has them."""
    try:
        bound = inspect.signature(function).bind_partial(*args, **kwargs)
        return dict(bound.arguments)
    except (TypeError, ValueError):
        return {**{f"args[{number}]": value for number, value in enumerate(args)}, **kwargs}


def _site_sightings(where: str, function: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> List[Sighting]:
    """What one child of a program receives (its arguments) and names (its function's globals)."""
    seen = [Sighting(name, where, *identify(value)) for name, value in _arguments(function, args, kwargs).items()]
    if getattr(function, "__code__", None) is not None:
        seen += [Sighting(name, GLOBAL, *identify(value)) for name, value in _globals_named(function).items()]
    return seen


# In a child of a program's Pool: where its task functions report (set by _child_reports).
_REPORTS: Any = None
# The Pool methods that hand a worker a task function.
_TASK_METHODS = ("apply", "apply_async", "map", "map_async", "imap", "imap_unordered", "starmap", "starmap_async")


def _child_reports(report: Any, site: int, where: str, function: Any, args: Tuple[Any, ...],
                   kwargs: Dict[str, Any]) -> Any:
    """Runs in each child of a program's Pool (as its initializer) or Process (as its target):
    describes what the child was handed, runs the program's own function, and for a Pool
    describes the globals after the initializer ran (it is what sets them)."""
    global _REPORTS
    _REPORTS = report
    initializer = where == INITIALIZER_ARGUMENT
    try:
        if initializer and function is not None:
            function(*args, **kwargs)  # it sets the globals described next
        report.put(("ok", site, _site_sightings(where, function, args, kwargs)))
    except BaseException as error:
        report.put(("error", site, f"{type(error).__name__}: {error}"))
        raise
    if initializer or function is None:
        return None
    return function(*args, **kwargs)


class _Described:
    """A Pool's task function that, the first time it runs in a worker, reports the module
    globals it names as that worker holds them (the task's own module, as the worker has it)."""

    def __init__(self, function: Any, site: int, names: Sequence[str]) -> None:
        self.function = function
        self.site = site
        self.names = names  # the globals to describe, as the parent listed them

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.site not in _REPORTED and _REPORTS is not None:
            _REPORTED.add(self.site)  # once per worker, however many chunks it runs
            seen = [sighted for sighted in _site_sightings(GLOBAL, self.function, (), {}) if sighted.name in self.names]
            _REPORTS.put(("ok", self.site, seen))
        return self.function(*args, **kwargs)


_REPORTED: Set[int] = set()  # in a Pool's worker: the task sites it has reported


class _ProbingShare(Share):
    """A Share whose Pools and Processes report what their children receive."""

    def __init__(self, start_method: str) -> None:
        super().__init__(start_method)
        self.reports: Any = self.context.SimpleQueue()
        self.sites: List[_Site] = []
        self.received: Dict[int, List[Tuple[bool, List[Sighting]]]] = {}

    def Pool(self, processes: int, initializer: Optional[Callable[..., Any]] = None,  # noqa: N802
             initargs: Sequence[Any] = (), **kwargs: Any) -> Any:
        site = len(self.sites)
        args = tuple(initargs)
        self.sites.append(_Site("Pool", initializer, _site_sightings(INITIALIZER_ARGUMENT, initializer, args, {}),
                                processes))
        pool = super().Pool(processes, _child_reports, (self.reports, site, INITIALIZER_ARGUMENT, initializer, args, {}),
                            **kwargs)
        # Every worker reports before the program gets its Pool: one that finishes early
        # and terminates the Pool cannot cut a slow worker's report short.
        self.collect(lambda: len(self.received.get(site, [])) >= processes)
        for name in _TASK_METHODS:
            setattr(pool, name, functools.partial(self._hand_task, getattr(pool, name), site))
        return pool

    def _hand_task(self, method: Callable[..., Any], pool_site: int, function: Any, *args: Any, **kwargs: Any) -> Any:
        """A task function given to a Pool: its workers describe what it names when they run it."""
        known = [n for n, site in enumerate(self.sites) if site.what == "task" and site.function is function]
        if known:
            site = known[0]
        else:
            site = len(self.sites)
            # The globals the Pool's initializer already showed are not listed twice.
            shown = {seen.name for seen in self.sites[pool_site].seen if seen.where == GLOBAL}
            seen = [sighted for sighted in _site_sightings(GLOBAL, function, (), {}) if sighted.name not in shown]
            self.sites.append(_Site("task", function, seen, 0))
        names = [seen.name for seen in self.sites[site].seen]
        return method(_Described(function, site, names), *args, **kwargs)

    def Process(self, **kwargs: Any) -> Any:  # noqa: N802
        target = kwargs.get("target")
        args, more = tuple(kwargs.get("args", ())), dict(kwargs.get("kwargs") or {})
        site = len(self.sites)
        self.sites.append(_Site("Process", target, _site_sightings(PROCESS_ARGUMENT, target, args, more), 1))
        kwargs.update(target=_child_reports, args=(self.reports, site, PROCESS_ARGUMENT, target, args, more), kwargs={})
        return super().Process(**kwargs)

    def collect(self, enough: Callable[[], bool]) -> None:
        """Read reports until ``enough()``; a child's error, or none in time, ends the probe."""
        deadline = time.monotonic() + startup_allowance(0)
        while not enough():
            if self.reports.empty():
                if time.monotonic() > deadline:
                    raise ProvenanceError(f"a child did not report in time under {self.start_method}")
                time.sleep(0.01)
                continue
            status, site, payload = self.reports.get()
            if status != "ok":
                raise ProvenanceError(f"a child of the program failed under {self.start_method}: {payload}")
            # Under spawn and forkserver a child imports the program's module afresh.
            self.received.setdefault(site, []).append((self.start_method != "fork", payload))

    def close(self) -> None:
        # The queue's two locks are named semaphores under spawn and forkserver, removed
        # when collected: let go of it before Share.close collects.
        if self.reports is not None:
            self.reports.close()
            self.reports = None
        super().close()


def _probe_program(scenario: Scenario, start_method: str, processes: int, ops: int) -> MethodProvenance:
    """A program scenario: run its program at a small size, with every Pool and Process it
    makes through ``share`` reporting what its children were handed."""
    program = scenario.program
    assert program is not None
    share = _ProbingShare(start_method)
    note = None
    try:
        sizes = {"share": share, "processes": processes, "ops": ops}
        shared = call_with(scenario.build, sizes)
        try:
            call_with(program, {**sizes, **shared})
        except Exception as error:  # what it raised is part of the answer (pool-arg-value)
            note = f"the program raised {type(error).__name__}: {error}"
        # A task site's reports (one per worker that ran the task) are all in before the
        # program's map returned; a Process's, before its join.
        share.collect(lambda: share.reports.empty() and all(len(share.received.get(n, [])) >= site.children
                                                            for n, site in enumerate(share.sites)))
        if not share.sites:
            raise NotAWorkerScenario(
                f"{scenario.id} is a program scenario that starts no Pool or Process through share "
                "(share.Pool, share.Process): racecourse cannot follow its processes")
        parent_identities = [identify(value)[1] for value in shared.values()]
        objects: List[ObjectProvenance] = []
        for number, site in enumerate(share.sites):
            parent_identities += [seen.identity for seen in site.seen]
            if not share.received.get(number):
                continue  # a task no worker ran (the program failed before it could)
            function = getattr(site.function, "__name__", None)
            module = getattr(site.function, "__module__", "") or scenario.module
            objects += _compare(scenario, start_method, site.seen, share.received.get(number, []),
                                pickled=PICKLED_INTO_POOL if site.what == "Pool" else PICKLED,
                                module=module.rsplit(".", 1)[-1], setter=function if site.what == "Pool" else None,
                                parent_identities=parent_identities)
        children = max(len(reports) for reports in share.received.values())
        return MethodProvenance(start_method, children, objects, note)
    finally:
        share.close()


def _compare(scenario: Scenario, start_method: str, parent: Sequence[Sighting],
             reports: Sequence[Tuple[bool, Sequence[Sighting]]], *, pickled: str = PICKLED,
             module: Optional[str] = None, setter: Optional[str] = None,
             parent_identities: Sequence[Optional[str]] = ()) -> List[ObjectProvenance]:
    """One ObjectProvenance per object the parent saw, from what each child reported.

    ``setter``: the function that ran in each child before it described the module
    globals (a Pool initializer): a global it set is compared with every object of the
    parent's (``parent_identities``), since the parent's own global was never set."""
    module = module or scenario.module.rsplit(".", 1)[-1] or getattr(scenario.worker, "__module__", "its module")
    objects = []
    for number, mine in enumerate(parent):
        theirs = [list(sighted)[number] for _, sighted in reports]
        identities: Dict[str, Optional[str]] = {"parent": mine.identity}
        identities.update({str(index): seen.identity for index, seen in enumerate(theirs)})
        children_ids = [seen.identity for seen in theirs]
        imported_here = any(fresh for fresh, _ in reports)
        set_in_child = (setter is not None and mine.where == GLOBAL and mine.identity is None
                        and any(identity is not None for identity in children_ids))
        kind = next((seen.kind for seen in theirs if seen.identity is not None), mine.kind) if set_in_child else mine.kind
        if kind.startswith("Manager "):
            how = PROXY
        elif set_in_child:
            how = SET_IN_CHILD.format(function=setter)
        elif mine.where != GLOBAL:
            how = INHERITED if start_method == "fork" else pickled
        elif mine.identity is not None:
            how = INHERITED if all(seen.identity == mine.identity for seen in theirs) else REIMPORTED.format(module=module)
        else:
            how = REIMPORTED.format(module=module) if imported_here else INHERITED
        compared_with = mine.identity
        if set_in_child and len(set(children_ids)) == 1 and children_ids[0] in parent_identities:
            compared_with = children_ids[0]  # the very object the parent handed over
        if compared_with is None and not set_in_child:
            sharing, shared = "a copy in every process: nothing is shared", False
        elif compared_with is not None and all(identity == compared_with for identity in children_ids):
            sharing, shared = f"one {kind}, shared by the parent and every child", True
        elif len(children_ids) == 1:
            sharing, shared = "the child has its own, not the parent's", False
        elif len(set(children_ids)) == len(children_ids):
            sharing, shared = f"each child has its own ({len(children_ids)} different), none is the parent's", False
        else:
            sharing, shared = "shared by some processes only", False
        objects.append(ObjectProvenance(mine.name, mine.where, kind, how, sharing, shared, identities))
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
