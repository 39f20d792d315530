"""Children started by racecourse obey Process.terminate() from their first instant.

Under fork a child inherits the parent's Python SIGTERM handler (``racecourse run``
installs one) and, until the interpreter in it has set itself up, a SIGTERM landing
there is marked pending and then cleared: the child lives on and a Pool's join() hangs.
So racecourse starts children with SIGTERM held (blocked); the child's entry point lets
it through. These tests hit that moment deterministically: the child reports its signal
state and waits, before its entry point, for the parent's SIGTERM to be sent.
"""

from __future__ import annotations

import multiprocessing
import signal

import pytest

from racecourse.child_signals import leave_signals_to_parent, starting_children
from racecourse.cli import _terminated
from support import nothing_left_behind, start_methods  # noqa: F401  (a fixture)

METHODS = start_methods()
WAIT_SECONDS = 60.0


def held_then_entry(conn):
    """A child before its entry point: reports whether SIGTERM is held, waits for the
    parent's SIGTERM, reports it pending, then runs the entry point, which lets it in."""
    conn.send(signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, []))
    # "Go" comes down the pipe, not through an Event: a child killed inside Event.wait()
    # leaves the Event's Condition waiting for it, and the parent's set() hangs.
    if not conn.poll(WAIT_SECONDS):
        return
    conn.recv()
    conn.send(signal.SIGTERM in signal.sigpending())
    leave_signals_to_parent()  # a held SIGTERM ends the process here
    conn.send("survived")


@pytest.mark.usefixtures("nothing_left_behind")
@pytest.mark.parametrize("method", METHODS)
def test_a_sigterm_before_the_entry_point_waits_for_it_and_then_ends_the_child(method):
    ctx = multiprocessing.get_context(method)
    mine, theirs = ctx.Pipe()
    child = ctx.Process(target=held_then_entry, args=(theirs,), daemon=True)
    previous = signal.signal(signal.SIGTERM, _terminated)  # as `racecourse run` has it
    try:
        with starting_children(method):
            child.start()
        # The parent holds SIGTERM only while it starts children.
        assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    finally:
        signal.signal(signal.SIGTERM, previous)
    theirs.close()
    try:
        assert mine.poll(WAIT_SECONDS)
        held = mine.recv()
        child.terminate()
        try:
            mine.send("go")
        except OSError:  # spawn, forkserver: the SIGTERM already ended it
            pass
        child.join(WAIT_SECONDS)
        assert child.exitcode == -signal.SIGTERM
        reports = []
        while mine.poll():
            try:
                reports.append(mine.recv())
            except (EOFError, OSError):  # the child's end closed as it died
                break
        # Under fork the signal waited, pending, for the entry point, which ended the
        # child. Spawn and forkserver children run none of the parent's handlers, so
        # nothing is held and the SIGTERM ends them where they wait.
        assert (held, reports) == ((True, [True]) if method == "fork" else (False, []))
    finally:
        if child.is_alive():
            child.kill()
            child.join()
        mine.close()
