"""Shared objects wherever ``build`` put them, and what control refuses wherever it is.

``build`` returns a dict, but the objects that race may sit deeper: ``{"state": {"counter":
Value}}``, a list or tuple of them, a dataclass, a namedtuple, an attribute of the user's
own class. :func:`walk` visits every object reachable from that dict through dicts,
lists, tuples and instance attributes (any depth, cycles visited once), names each shared
object by the path a person would type (``state['counter']``, ``box.count``,
``pair[0]``) and hands it, with its kind (``classify``), to a visitor. What the visitor
returns takes the object's place in its container: in a worker, the controlled stand-in,
so that ``state["counter"].value += 1`` is a read point and a write point.

Whatever ``classify`` refuses is refused wherever it is found, naming the path; so is what
no classify kind could ever cover because it talks to the outside (a socket, a Manager
itself). A worker's module globals are checked the same way: only plain data and
module-level locks (which control wraps, ``instrument_module_locks``) are allowed there.
"""

from __future__ import annotations

import copy
import multiprocessing.managers
import multiprocessing.pool
import multiprocessing.process
import socket
import types
from typing import Any, Callable, Collection, Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Tuple

from .instrument import Channel, ControlledLock, Uncontrollable, classify, instrument, lock_identity

NOT_SHARED = ("plain", "copied")  # classify's kinds for what each process has its own copy of

# Not shared state racecourse could schedule, whatever kinds classify learns: they talk to
# the outside world or to a server of their own.
_NEVER = (
    (socket.socket, "a socket, which talks to the outside world where racecourse does not look"),
    (multiprocessing.process.BaseProcess, "a Process, which runs code of its own that racecourse does not schedule"),
    (multiprocessing.pool.Pool, "a Pool, whose workers run code that racecourse does not schedule"),
    (multiprocessing.managers.BaseManager, "a Manager itself, whose server process racecourse does not "
                                           "schedule; share the objects it makes (manager.dict(), manager.Lock())"),
)

_ATOMS = frozenset({int, float, complex, str, bytes, bool, type(None)})

# Objects whose attributes are code, not data: never looked inside.
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


class Found(NamedTuple):
    """One shared object, as the parent found it."""

    label: str  # the path a person would type: "state['counter']"
    value: Any
    kind: str  # classify's kind
    bookkeeping: bool  # marked share.bookkeeping(...), or inside something that is


Visitor = Callable[[Any, str, str, bool], Any]  # (value, kind, label, bookkeeping) -> what takes its place


def kind_of(value: Any, label: str) -> str:
    """classify's kind for ``value``, or Uncontrollable naming ``label`` for what can never be."""
    for kinds, what in _NEVER:
        if isinstance(value, kinds):
            raise Uncontrollable(f"{label} is {what}")
    return classify(value, label)


class _Walk:
    """One walk over a shared state; see :func:`walk`."""

    def __init__(self, visit: Visitor, marked: Collection[int], in_place: bool,
                 enter: Callable[[Any], bool]) -> None:
        self.visit = visit
        self.marked = marked
        self.in_place = in_place
        self.enter = enter
        self.done: Dict[int, Any] = {}  # id -> what took its place: each object visited once
        self.alive: List[Any] = []  # what was visited, kept alive so that no id is reused during the walk

    def value(self, value: Any, label: str, bookkeeping: bool) -> Any:
        if type(value) in _ATOMS:
            return value  # the bulk of a big list of numbers: nothing to look at, cheaply
        key = id(value)
        if key in self.done:
            return self.done[key]
        self.alive.append(value)
        bookkeeping = bookkeeping or key in self.marked
        kind = kind_of(value, label)
        if kind not in NOT_SHARED:
            result = self.done[key] = self.visit(value, kind, label, bookkeeping)
            return result
        if kind == "plain" and not isinstance(value, tuple):
            return value  # a number, a string: nothing inside
        self.done[key] = value  # a cycle back here sees the container itself
        result = self._inside(value, label, bookkeeping)
        self.done[key] = result
        return result

    def _inside(self, value: Any, label: str, bookkeeping: bool) -> Any:
        if isinstance(value, tuple):
            fields = getattr(value, "_fields", None)  # a namedtuple: its items read as attributes
            if fields:
                named = dict(zip(fields, value))
                self._replace(named, list(named.items()), label, ".{}", bookkeeping, _set_item, in_place=True)
                items = list(named.values())
            else:
                items = list(value)
                self._replace(items, enumerate(value), label, "[{}]", bookkeeping, _set_item, in_place=True)
            if all(new is old for new, old in zip(items, value)):
                return value
            return type(value)._make(items) if fields else type(value)(items)  # type: ignore[attr-defined]
        if isinstance(value, dict):
            return self._replace(value, list(value.items()), label, "[{!r}]", bookkeeping, _set_item)
        if isinstance(value, list):
            return self._replace(value, enumerate(value), label, "[{}]", bookkeeping, _set_item)
        if isinstance(value, _OPAQUE) or not self.enter(value):
            return value
        return self._replace(value, _attributes(value), label, ".{}", bookkeeping, object.__setattr__)

    def _replace(self, container: Any, entries: Iterable[Tuple[Any, Any]], label: str, path: str,
                 bookkeeping: bool, put: Callable[[Any, Any, Any], None], in_place: Optional[bool] = None) -> Any:
        """Walk a container's entries, (where, item); put each one's stand-in in its place,
        in ``container`` itself (in place) or in a shallow copy made at the first change.
        ``path`` makes an entry's label from ``where``: made only for what is not an atom
        (the bulk of a big list)."""
        in_place = self.in_place if in_place is None else in_place
        result = container
        for where, item in entries:
            if type(item) in _ATOMS:
                continue
            new = self.value(item, label + path.format(where), bookkeeping)
            if new is not item:
                if result is container and not in_place:
                    result = self.done[id(container)] = copy.copy(container)
                put(result, where, new)
        return result


def _set_item(container: Any, where: Any, new: Any) -> None:
    container[where] = new


def _attributes(value: Any) -> List[Any]:
    """An object's own attributes: its ``__dict__`` and its slots."""
    found = list(getattr(value, "__dict__", {}).items())
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                found.append((name, getattr(value, name)))
    return found


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _anything(value: Any) -> bool:
    return True


def walk(shared: Dict[str, Any], visit: Visitor, marked: Collection[int] = (), in_place: bool = False,
         enter: Callable[[Any], bool] = _anything) -> Dict[str, Any]:
    """``shared`` with each shared object inside it replaced by what ``visit`` returns for it
    (called once per object, however many paths reach it; the first path names it).

    ``marked``: ids of objects marked as bookkeeping (everything inside one is, too).
    ``in_place``: change the containers themselves (a worker's own copy of the state);
    otherwise a container that changes is copied first and the originals stay as they were.
    ``enter``: which objects that are not containers to look inside (their attributes).
    """
    walker = _Walk(visit, marked, in_place, enter)
    return {name: walker.value(value, name, False) for name, value in shared.items()}


def find(shared: Dict[str, Any], marked: Collection[int] = ()) -> List[Found]:
    """Every shared object reachable from ``shared``, in the order a walk meets them;
    Uncontrollable for the first thing control cannot schedule, naming where it is."""
    found: List[Found] = []

    def note(value: Any, kind: str, label: str, bookkeeping: bool) -> Any:
        found.append(Found(label, value, kind, bookkeeping))
        return value

    walk(shared, note, marked)
    _refuse_shared_locks(found)
    return found


def _refuse_shared_locks(found: List[Found]) -> None:
    """Uncontrollable for a lock that bookkeeping shares with the state under test: its
    acquires would be scheduling points by one path and invisible by the other."""
    owners: Dict[str, Found] = {}
    for item in found:
        lock = _lock_of(item)
        if lock is None:
            continue
        other = owners.setdefault(lock_identity(lock)[0], item)
        if other.bookkeeping != item.bookkeeping:
            marked, unmarked = (other, item) if other.bookkeeping else (item, other)
            raise Uncontrollable(
                f"{marked.label} is bookkeeping but shares its lock with {unmarked.label}, which is not: "
                "give the bookkeeping state a lock of its own"
            )


def _lock_of(item: Found) -> Any:
    if item.kind in ("lock", "semaphore"):
        return item.value
    if item.kind.startswith("synchronized"):
        return item.value.get_lock()
    return None


class GuardedChannel(Channel):
    """The channel of a worker whose state includes bookkeeping. Bookkeeping objects are
    the real ones, so their locks really wait; a process that holds one at a visible
    operation of the code under test would make another wait for it outside any point,
    where the controller cannot see (and would wait 10 s for it). That is refused at the
    holder's point, every time, in every schedule."""

    __slots__ = ("bookkeeping_locks",)

    def __init__(self, commands: int, messages: int) -> None:
        super().__init__(commands, messages)
        self.bookkeeping_locks: List[Tuple[str, Any]] = []  # (label, real lock)

    def point(self, kind: str, key: str, label: str, needs: Optional[str] = None, reentrant: bool = False) -> bool:
        if not self.aborting:
            for name, lock in self.bookkeeping_locks:
                if lock._semlock._is_mine():
                    raise Uncontrollable(
                        f"{name} is bookkeeping, and this process holds it at '{kind} {label}': release a "
                        "bookkeeping lock before the code under test goes on"
                    )
        return Channel.point(self, kind, key, label, needs, reentrant)


def channel_for(commands: int, messages: int, bookkeeping: FrozenSet[str]) -> Channel:
    """A worker's channel: guarded when some of its shared state is bookkeeping."""
    return GuardedChannel(commands, messages) if bookkeeping else Channel(commands, messages)


def instrument_found(shared: Dict[str, Any], bookkeeping: FrozenSet[str], channel: Channel,
                     locks: Dict[str, ControlledLock]) -> Dict[str, Any]:
    """A worker's copy of the shared state with every shared object replaced, in place, by
    its controlled stand-in; those whose labels are in ``bookkeeping`` stay the real
    objects (no scheduling point), their locks watched by the (guarded) channel."""

    def stand_in(value: Any, kind: str, label: str, marked: bool) -> Any:
        if label not in bookkeeping:
            return instrument(value, label, channel, locks)
        lock = _lock_of(Found(label, value, kind, True))
        if isinstance(channel, GuardedChannel) and lock is not None and hasattr(lock, "_semlock"):
            channel.bookkeeping_locks.append((f"{label}.lock" if lock is not value else label, lock))
        return value

    return walk(shared, stand_in, in_place=True)


def refuse_module_globals(namespace: Dict[str, Any], module: str) -> None:
    """Uncontrollable for a global of the worker's module that control would not see: any
    shared object but a plain module-level lock (wrapped in every worker), wherever it sits
    in the module's dicts, lists, tuples and objects of the module's own classes."""

    def refuse(value: Any, kind: str, label: str, bookkeeping: bool) -> Any:
        top_level = "." not in label and "[" not in label  # a global's own name, not a path into it
        if kind == "lock" and top_level:
            return value  # LOCK = Lock(): instrument_module_locks wraps it
        what = type(value).__name__
        why = ("racecourse wraps a module's locks only when they are globals themselves (LOCK = Lock())"
               if kind == "lock" else "racecourse does not schedule the shared objects a module makes")
        raise Uncontrollable(
            f"module global {label} (in {module}) is {_article(what)} {what}: {why}; "
            "make it in build() and pass it to the worker"
        )

    def own_class(value: Any) -> bool:
        return type(value).__module__ == module

    globals_ = {name: value for name, value in namespace.items() if not name.startswith("__")}
    try:
        walk(globals_, refuse, enter=own_class)
    except Uncontrollable as error:
        message = str(error)
        if not message.startswith("module global"):  # classify's sentence, "LABEL is a ...": say where
            label, _, rest = message.partition(" is ")
            message = f"module global {label} (in {module}) is {rest}"
        raise Uncontrollable(message) from None
