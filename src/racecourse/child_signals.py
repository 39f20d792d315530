"""How every child process racecourse starts treats signals.

Ctrl-C belongs to the parent: it stops the run and then every child, so a child that
also raised KeyboardInterrupt would only print a traceback of its own. SIGTERM must do
what ``Process.terminate()`` means, kill the child, even when the child was forked from
a racecourse command that had its own SIGTERM handler installed (a forked child inherits
Python's signal handlers, and a Pool worker keeping that handler survives ``terminate()``).

Two halves: the parent starts children inside :func:`starting_children`, and each
child's entry point (target, initializer) first calls :func:`leave_signals_to_parent`.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys
import threading
from typing import Iterator

_HELD = {signal.SIGTERM}


@contextlib.contextmanager
def starting_children(start_method: str) -> Iterator[None]:
    """Start child processes inside this block.

    They begin life with SIGINT ignored. An ignored signal stays ignored across exec, so
    even a spawn or forkserver child that is still importing when Ctrl-C comes does not
    print a KeyboardInterrupt traceback of its own: Ctrl-C reaches the parent only,
    which stops every child. (A Ctrl-C during the few milliseconds of the start itself
    is dropped; the next one is not.)

    Under fork, SIGTERM is also held (blocked) while the child is made, so the child
    starts with it held. A SIGTERM that reaches a forked child before the interpreter
    has finished setting itself up in it would otherwise be lost: the child runs the
    parent's Python handler, which only marks the signal as pending, and CPython clears
    pending signals right after fork. A Pool terminated a moment after it started
    (``pool-arg-value`` fails at once) then kept a worker alive and ``join()`` hung. Held,
    the signal waits for the child's entry point, which sets SIGTERM to its default and
    lets it through. Threads started in the block (a Pool's) keep the mask, so the
    workers they start as replacements begin the same way.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Afterwards, let through only what this block held (a caller may hold SIGTERM itself).
    release = start_method == "fork" and signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        if release:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
        signal.signal(signal.SIGINT, previous)


def leave_signals_to_parent(die_with_parent: bool = False) -> None:
    """The first thing a child's entry point (target, initializer) does.

    ``die_with_parent``: the child also ends (SIGTERM) when its parent dies, however it
    dies. A parent killed with SIGKILL (a CI job's timeout, the OOM killer) cleans nothing
    up, and a child forked from it holds copies of the pipes it would otherwise see
    closed: a controlled worker waits for its next command forever, a stress worker in a
    `while True` loop runs forever. Only for children started from the parent's main
    thread: Linux sends the signal when the *thread* that started the child ends, so a
    Pool's replacement workers (started by its own thread) must not ask for it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)  # a SIGTERM held since the start ends it now
    if die_with_parent:
        end_with_parent()


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def end_with_parent() -> None:
    """Linux: this process gets SIGTERM when the thread that started it ends."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere the pipes' end-of-file is all a child has to go by
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass
