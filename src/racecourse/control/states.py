"""States of a controlled run, for the exhaustive search's state caching.

The exhaustive search replays schedules from the start, so it is stateless: two prefixes
that reach the same state both have their whole future explored. State caching prunes the
second one. A state must hold everything that decides the future:

* the shared memory (the bytes of every Value, Array and shared-memory block, read by
  the parent), and the parent's model of every lock, semaphore, event and Condition over
  a plain Lock (who holds what, in which order, counts, flags, waiters and wake-ups);
* each unfinished process's own state, which its worker reports with each operation
  (:class:`LocalStates`): the code position of every frame from the worker's down to the
  operation, each frame's locals, and the values the worker received since its current
  statement began (which may sit on the interpreter's value stack, where no frame
  introspection reaches); a finished process's state is its result.

That is faithful only for code whose state is all in those places, so a worker's function
(and every function of the user's that it calls and that is running at an operation) is
read once (its source, with ``ast``) and accepted only if it cannot keep state elsewhere:
``for`` loops over ``range(...)`` of values that never change, whose variable only the
loop assigns (so that the variable tells where the loop's iterator is); ``with`` on a
lock named by a parameter or a global, or on ``x.get_lock()``; ``try`` with ``except``,
``else`` and ``finally`` (not ``except*``); single assignment targets; no closures,
comprehensions, generators, ``global``, ``nonlocal`` or ``:=``; global names only for
builtins that keep no state, plain constants, controlled objects, accepted functions and
``time.sleep``. Locals and received values must be plain immutable data or controlled
objects. Anything else, anywhere, and the process reports no state: that node is not
cached (the search falls back to its stateless behaviour there). So is an operation made
while an exception is being handled (in an ``except`` or ``finally`` clause reached by
an exception, or a ``with`` left by one; see ``LocalStates.state``). Which statement the
worker is in is told by its frame's line (the innermost statement there; two statements
on one line count as one, which only keeps more values). As replaying already does, this
takes a worker to act the same from the same state, and not to reach its own state
through introspection (``sys._getframe``, ``gc``, private attributes).

Sleep sets and caching: a state explored with sleep set Z covers every trace from it
except those that begin with a transition in Z. A revisit with sleep set Z' is pruned only
if Z is a subset of Z' (Godefroid 1996, ch. 5); otherwise it is explored again and the
stored set becomes Z & Z'. A state is stored only once its whole subtree is explored.
"""

from __future__ import annotations

import ast
import ctypes
import inspect
import marshal
import os
import sys
import textwrap
import time
import types
from multiprocessing import synchronize
from typing import Any, Dict, FrozenSet, Hashable, List, Optional, Tuple

from . import instrument
from .instrument import (
    ControlledBuffer,
    ControlledCondition,
    ControlledEvent,
    ControlledLock,
    ControlledSequence,
    ControlledSharedMemory,
    ControlledValue,
)

# The kinds of shared object whose whole state the parent can read or models (see
# ``reach.Found.kind``): a run that shares anything else is never cached. A condition too,
# when it is a multiprocessing Condition over a plain Lock (``_cacheable``).
CACHEABLE_KINDS = frozenset({"synchronized-value", "synchronized-array", "raw-value", "raw-array", "shared-memory",
                             "lock", "semaphore", "event"})

# Builtins that keep no state and call nothing of the user's but the objects' own methods.
_PURE_BUILTINS = frozenset({"range", "len", "abs", "min", "max", "int", "float", "str", "bool", "tuple", "divmod",
                            "isinstance", "sum", "ValueError", "RuntimeError", "AssertionError", "Exception",
                            "KeyError", "IndexError", "LookupError", "ZeroDivisionError", "ArithmeticError",
                            "OverflowError", "TypeError", "TimeoutError"})

_CONTROLLED = (ControlledLock, ControlledValue, ControlledSequence, ControlledBuffer, ControlledSharedMemory,
               ControlledEvent, ControlledCondition)
# racecourse's own wrappers (instrument, reach): what their frames hold follows from the
# worker's frames and the values received, so they are skipped.
_WRAPPERS = os.path.dirname(os.path.abspath(instrument.__file__)) + os.sep

_FORBIDDEN = tuple(getattr(ast, name) for name in (
    "FunctionDef", "AsyncFunctionDef", "Lambda", "ClassDef", "ListComp", "SetComp", "DictComp", "GeneratorExp",
    "Yield", "YieldFrom", "Await", "Global", "Nonlocal", "NamedExpr", "TryStar", "AsyncFor", "AsyncWith",
    "Match", "Import", "ImportFrom", "Starred") if hasattr(ast, name))


class Unencodable(Exception):
    """A value racecourse cannot encode faithfully."""


def encode(value: Any, kept: FrozenSet[int] = frozenset()) -> Hashable:
    """A hashable encoding equal for two values only if no code can tell them apart (for
    plain immutable data and controlled objects); Unencodable for anything else. ``kept``:
    the ids of the real shared objects a worker holds as bookkeeping, whose contents are
    in the shared state the parent reads."""
    kind = type(value)
    if kind is int or kind is str or kind is bytes or value is None:
        plain: Hashable = value
        return plain
    if kind is bool:
        return ("b", value)
    if kind is float:
        return ("f", value.hex())  # 0.0 and -0.0 differ; a NaN equals itself
    if kind is complex:
        return ("j", value.real.hex(), value.imag.hex())
    if kind is tuple:
        return ("t",) + tuple(encode(item, kept) for item in value)
    if kind is range:
        return ("r", value.start, value.stop, value.step)
    if isinstance(value, _CONTROLLED):
        # Stateless stand-ins: the state they front is the shared state, encoded apart.
        return ("c", kind.__name__, getattr(value, "_label", None), getattr(value, "_key", None),
                getattr(value, "_needs", None))
    if id(value) in kept:
        return ("k", id(value))  # the same object in this process for its whole life
    raise Unencodable(kind.__name__)


# -- which code keeps all its state in frames --------------------------------------------------


class _Function:
    """What the analysis of one function found: where each of its lines' statement is."""

    __slots__ = ("statements",)

    def __init__(self, statements: Dict[int, Hashable]) -> None:
        self.statements = statements

    def statement_at(self, line: int) -> Hashable:
        return self.statements.get(line, ("line", line))


_ANALYSED: Dict[Any, Optional[_Function]] = {}


def analyse(code: types.CodeType, namespace: Dict[str, Any]) -> Optional[_Function]:
    """The analysis of a function's code, or None if its state may live outside its frame."""
    if code in _ANALYSED:
        return _ANALYSED[code]
    _ANALYSED[code] = None  # a function that calls itself is judged by the rest of its body
    try:
        result = _analyse(code, namespace)
    except (OSError, TypeError, SyntaxError, ValueError, IndexError):
        result = None  # no source to read
    _ANALYSED[code] = result
    return result


def _analyse(code: types.CodeType, namespace: Dict[str, Any]) -> Optional[_Function]:
    if code.co_freevars or code.co_cellvars or code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE
                                                               | inspect.CO_ASYNC_GENERATOR):
        return None
    lines, first = inspect.getsourcelines(code)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    function = tree.body[0] if tree.body else None
    if not isinstance(function, ast.FunctionDef) or function.name != code.co_name:
        return None
    offset = first - 1
    arguments = function.args
    params = {arg.arg for arg in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
    params |= {arg.arg for arg in (arguments.vararg, arguments.kwarg) if arg is not None}
    assigned = {node.id for node in ast.walk(function) if isinstance(node, ast.Name)
                and isinstance(node.ctx, (ast.Store, ast.Del))}
    # "except E as name" binds name (and deletes it when the clause ends).
    assigned |= {node.name for node in ast.walk(function) if isinstance(node, ast.ExceptHandler) and node.name}
    local = params | assigned
    stable = params - assigned
    # ``time.sleep(...)``: the time module as a global, for its sleep only (which waits
    # and keeps nothing; the clock's readings would be state no frame shows).
    sleeps = {id(node.value) for node in ast.walk(function) if isinstance(node, ast.Attribute)
              and node.attr == "sleep" and isinstance(node.value, ast.Name)}
    for node in ast.walk(function):
        if node is not function and isinstance(node, _FORBIDDEN):
            return None
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
            if id(node) in sleeps and namespace.get(node.id) is time:
                continue
            if not _global_ok(node.id, namespace):
                return None
            if _constant(namespace[node.id]) if node.id in namespace else node.id in ("len", "range"):
                stable.add(node.id)  # a constant, a controlled object, or the builtin (not shadowed)
        if isinstance(node, ast.Attribute) and (node.attr.startswith("_")
                                                or isinstance(node.ctx, ast.Store) and node.attr != "value"):
            return None  # private state of a wrapper, or an attribute of its own set on one
        if isinstance(node, ast.Assign) and (len(node.targets) != 1 or isinstance(node.targets[0], (ast.Tuple, ast.List))):
            return None  # several targets: a local may change before a later target's write
    for node in ast.walk(function):
        if isinstance(node, ast.For) and not _range_loop(node, stable):
            return None
        if isinstance(node, ast.With) and not all(_stable_context(item, stable) for item in node.items):
            return None
    return _Function(_statements(function, offset))


def _constant(value: Any) -> bool:
    try:
        encode(value)
    except Unencodable:
        return False
    return True


def _global_ok(name: str, namespace: Dict[str, Any]) -> bool:
    """A global name that keeps no state of its own: a plain constant, a controlled object,
    an accepted function, or a builtin that keeps none."""
    if name not in namespace:
        return name in _PURE_BUILTINS
    value = namespace[name]
    if value is time.sleep:  # from time import sleep
        return True
    if isinstance(value, types.FunctionType):
        defaults = (value.__defaults__ or ()) + tuple((value.__kwdefaults__ or {}).values())
        return all(_constant(default) for default in defaults) and not vars(value) \
            and analyse(value.__code__, value.__globals__) is not None
    return _constant(value)


def _stable_expression(node: ast.expr, stable: FrozenSet[str]) -> bool:
    """Computed from values that never change while the function runs."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in stable
    if isinstance(node, ast.Call):  # len() of a shared sequence: its length never changes
        return isinstance(node.func, ast.Name) and node.func.id == "len" and "len" in stable \
            and len(node.args) == 1 and not node.keywords and _stable_expression(node.args[0], stable)
    if isinstance(node, ast.BinOp):
        return _stable_expression(node.left, stable) and _stable_expression(node.right, stable)
    if isinstance(node, ast.UnaryOp):
        return _stable_expression(node.operand, stable)
    return False


def _range_loop(loop: ast.For, stable: Any) -> bool:
    """``for name in range(<stable>...)`` whose body never assigns ``name``: the iterator
    on the value stack is then told by the name's value."""
    call, target = loop.iter, loop.target
    if not (isinstance(target, ast.Name) and isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "range" and "range" in stable and not call.keywords and 1 <= len(call.args) <= 3
            and all(_stable_expression(arg, stable) for arg in call.args)):
        return False
    return not any(isinstance(node, ast.Name) and node.id == target.id and isinstance(node.ctx, (ast.Store, ast.Del))
                   for statement in loop.body for node in ast.walk(statement))


def _stable_context(item: ast.withitem, stable: Any) -> bool:
    """``with lock`` or ``with x.get_lock()`` (x never reassigned): its exit on the value
    stack belongs to a lock fixed by the code position, whose holding the parent models."""
    context, target = item.context_expr, item.optional_vars
    if target is not None and not isinstance(target, ast.Name):
        return False
    if isinstance(context, ast.Name):
        return context.id in stable
    return (isinstance(context, ast.Call) and not context.args and not context.keywords
            and isinstance(context.func, ast.Attribute) and context.func.attr == "get_lock"
            and isinstance(context.func.value, ast.Name) and context.func.value.id in stable)


def _statements(function: ast.FunctionDef, offset: int) -> Dict[int, Hashable]:
    """For each line of the function, the innermost statement it belongs to (the line
    itself when two statements share it)."""
    spans: Dict[int, Tuple[int, Hashable]] = {}
    shared = set()
    for node in ast.walk(function):
        if not isinstance(node, ast.stmt) or node is function:
            continue
        start, end = node.lineno + offset, (node.end_lineno or node.lineno) + offset
        header_end = node.body[0].lineno + offset - 1 if hasattr(node, "body") and node.body else end
        ident = (node.lineno + offset, node.col_offset)
        for line in range(start, max(start, header_end) + 1):
            size = header_end - start
            kept = spans.get(line)
            if kept is None or size < kept[0]:
                spans[line] = (size, ident)
            elif size == kept[0] and kept[1] != ident:
                shared.add(line)
    return {line: (("line", line) if line in shared else ident) for line, (_, ident) in spans.items()}


# -- the worker's side: its state at each operation ----------------------------------------------


def kept_as_bookkeeping(arguments: Dict[str, Any], bookkeeping: FrozenSet[str]) -> FrozenSet[int]:
    """The ids of the real shared objects a worker's arguments hold as bookkeeping."""
    from .reach import walk

    kept: List[int] = []

    def note(value: Any, kind: str, label: str, marked: bool) -> Any:
        if label in bookkeeping:
            kept.append(id(value))
        return value

    walk(arguments, note)
    return frozenset(kept)


class LocalStates:
    """A worker process's own state at each of its operations, or None when it cannot be
    told faithfully. ``received`` holds the values its operations returned since its
    outermost frame began its current statement."""

    __slots__ = ("worker", "kept", "received", "statement", "position", "callee")

    def __init__(self, worker: Optional[types.CodeType], kept: FrozenSet[int] = frozenset()) -> None:
        self.worker = worker
        self.kept = kept  # see encode()
        self.received: List[Any] = []
        self.statement: Optional[Hashable] = None
        # Where the worker's frame was at the last operation, and the call it was in there
        # (held, so that no later call's frame can take its id): see went_back().
        self.position = -1
        self.callee: Optional[types.FrameType] = None

    def reset(self) -> None:
        self.received = []
        self.statement = None
        self.position = -1
        self.callee = None

    def went_back(self, position: int, callee: Optional[types.FrameType]) -> bool:
        """Whether the worker's frame jumped back since the last operation: it is at an
        earlier instruction, or at the same call instruction in a new call (an instruction
        runs again only after a backward jump). In one statement that is a loop going
        round (``while not ready.wait(0.01): pass``), and the values received in the last
        round were used up by its test: at a loop's head the value stack holds only what
        the enclosing statements keep (a ``for`` loop's range iterator, a ``with``'s exit),
        which the code position and the locals already tell."""
        back = position < self.position or position == self.position and callee is not self.callee
        self.position, self.callee = position, callee
        return back

    def state(self, previous: Any, frame: Optional[types.FrameType]) -> Optional[Hashable]:
        """The state at the operation about to be reported; ``previous`` is what the last
        operation returned, ``frame`` the wrapper's frame."""
        frames = []
        callee = None  # the call the worker's frame is in
        while frame is not None and frame.f_code is not self.worker:
            if not frame.f_code.co_filename.startswith(_WRAPPERS):
                frames.append(frame)
            callee, frame = frame, frame.f_back
        if frame is None:
            self.reset()
            return None
        frames.append(frame)
        outer = frame.f_back
        while outer is not None:  # a worker that calls itself: its outer calls' state too
            if outer.f_code is self.worker:
                return None
            outer = outer.f_back
        analysis = analyse(frame.f_code, frame.f_globals)
        if analysis is None:
            return None
        statement = analysis.statement_at(frame.f_lineno)
        if self.went_back(frame.f_lasti, callee) | (statement != self.statement):
            self.received = []
            self.statement = statement
        elif self.statement is not None:
            self.received.append(previous)
        if sys.exc_info()[0] is not None:
            # An exception is being handled somewhere in this process: it waits on a value
            # stack (with the exception it replaced) to be re-raised or dropped when its
            # clause ends, and no frame shows it. Not cached. (The values received above
            # are still noted: a statement that began before may go on after the clause.)
            return None
        # Otherwise ``try`` keeps nothing outside the frame that its code position does not
        # fix. CPython 3.11 and later find handlers in the code's exception table, fixed
        # per position; 3.9, 3.10 and PyPy 3.9 (same bytecode) keep a block stack, but in
        # structured code the blocks open at a position (and the value stack depth each
        # records) follow from the position, except the block of an exception being
        # handled, ruled out above. A finally clause reached without an exception is
        # compiled once per way in (the end of the body, a return, a break: 3.9 and later,
        # PyPy 3.9 too), so the position tells which way it continues; a return's value
        # waiting there was received in the statement still running in the worker's frame
        # (the received values) or is the worker's own result, which no outcome reads.
        try:
            positions = tuple(self._frame(each) for each in reversed(frames))
            state: Any = positions, tuple(encode(value, self.kept) for value in self.received)
        except Unencodable:
            return None
        # Sent as marshal's bytes: equal bytes only for equal states (loads gives the state
        # back, types and all); two equal states may differ in bytes (a string interned in
        # one only), which costs a hit, never an outcome. Cheaper than pickling the tuples
        # on PyPy, where pickle is Python code, and a cheaper key for the parent to hash.
        return marshal.dumps(state, 2)

    def _frame(self, frame: types.FrameType) -> Hashable:
        code = frame.f_code
        if analyse(code, frame.f_globals) is None:
            raise Unencodable(code.co_name)
        local = sorted((name, encode(value, self.kept)) for name, value in dict(frame.f_locals).items())
        return (code.co_filename, code.co_firstlineno, code.co_name), frame.f_lasti, tuple(local)


# -- the parent's side: the shared state and the models -------------------------------------------


def _cacheable(item: Any) -> bool:
    if item.kind == "condition":
        # Its waiters and wake-ups are the parent's model, and a wait's outcome reaches the
        # worker as a received value. Only over a plain Lock: over an RLock, how deep the
        # waiting process held it is kept in racecourse's own frame (skipped) until the
        # re-acquire; a Manager's Condition is not taken either.
        lock = getattr(item.value, "_lock", None)  # not in typeshed's stubs
        return isinstance(item.value, synchronize.Condition) and type(lock) is synchronize.Lock
    return item.kind in CACHEABLE_KINDS


class SharedState:
    """Reads the bytes of every shared memory object the run can change."""

    def __init__(self, found: List[Any]) -> None:
        self.cacheable = all(_cacheable(item) for item in found)
        self.regions: List[Tuple[int, int]] = []
        self.blocks: List[Any] = []
        # The same for the bookkeeping objects alone (see ``bookkeeping``).
        self.bookkeeping_regions: List[Tuple[int, int]] = []
        self.bookkeeping_blocks: List[Any] = []
        if not self.cacheable:
            return
        for item in found:
            kind, value = item.kind, item.value
            regions, blocks = (self.bookkeeping_regions, self.bookkeeping_blocks) if item.bookkeeping else ([], [])
            if kind in ("synchronized-value", "synchronized-array", "raw-value", "raw-array"):
                raw = value.get_obj() if kind.startswith("synchronized") else value
                for where in (self.regions, regions):
                    where.append((ctypes.addressof(raw), ctypes.sizeof(raw)))
            elif kind == "shared-memory":
                for where in (self.blocks, blocks):
                    where.append(value)

    def memory(self) -> Tuple[bytes, ...]:
        return _read(self.regions, self.blocks)

    def bookkeeping(self) -> Optional[Tuple[bytes, ...]]:
        """The bookkeeping objects' bytes, or None when there are none. Their reads and
        writes are no operations, so no footprint shows them; yet they are in the state,
        and a check may read them (the most ever inside at once). Two transitions that both
        change them may not commute there: the search compares these bytes before and after
        each transition and counts a change as a write to one bookkeeping place."""
        if not self.bookkeeping_regions and not self.bookkeeping_blocks:
            return None
        return _read(self.bookkeeping_regions, self.bookkeeping_blocks)


def _read(regions: List[Tuple[int, int]], blocks: List[Any]) -> Tuple[bytes, ...]:
    return tuple(ctypes.string_at(address, size) for address, size in regions) + tuple(
        bytes(block.buf) for block in blocks)


def models(resources: Dict[str, Any]) -> Optional[Hashable]:
    """The parent's models of the locks, semaphores, events and conditions, or None for a
    model this encoding does not know (a queue or barrier)."""
    from .sync import ConditionResource, EventResource, LockResource, SemaphoreResource

    encoded: List[Hashable] = []
    holdings = []
    for key in sorted(resources):
        resource = resources[key]
        kind = type(resource)
        if kind is LockResource:
            if resource.holder is not None:
                encoded.append((key, resource.holder, resource.depth))
                holdings.append((resource.since, key))
        elif kind is SemaphoreResource:
            encoded.append((key, resource.count, tuple(process for _, process in resource.takers)))
        elif kind is EventResource:
            encoded.append((key, resource.flag, resource.cleared_by))
        elif kind is ConditionResource:
            if resource.waiting or resource.wakeups or resource.notified:  # else as if never used
                encoded.append((key, tuple(resource.waiting),
                                tuple((tuple(sorted(who)), left) for who, left in resource.wakeups), resource.notified))
        else:
            return None
    # The order in which locks were taken shows in a deadlock's story.
    return tuple(encoded), tuple(key for _, key in sorted(holdings))


class Visited:
    """States whose whole subtree was explored, each with the sleep set it was explored with."""

    def __init__(self) -> None:
        self.sleeping: Dict[Hashable, FrozenSet[Any]] = {}
        self.hits = 0

    def covers(self, state: Hashable, sleep: FrozenSet[Any]) -> bool:
        stored = self.sleeping.get(state)
        if stored is not None and stored <= sleep:
            self.hits += 1
            return True
        return False

    def explored(self, state: Hashable, sleep: FrozenSet[Any]) -> None:
        stored = self.sleeping.get(state)
        self.sleeping[state] = sleep if stored is None else stored & sleep

    def clear(self) -> None:
        self.sleeping.clear()
