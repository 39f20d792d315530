"""How every child process racecourse starts treats signals.

Ctrl-C belongs to the parent: it stops the run and then every child, so a child that
also raised KeyboardInterrupt would only print a traceback of its own. SIGTERM must do
what ``Process.terminate()`` means, kill the child, even when the child was forked from
a racecourse command that had its own SIGTERM handler installed (a forked child inherits
Python's signal handlers, and a Pool worker keeping that handler survives ``terminate()``).
"""

from __future__ import annotations

import signal


def leave_signals_to_parent() -> None:
    """The first thing a child's entry point (target, initializer) does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
