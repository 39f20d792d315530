"""The exit statuses of the command line, every subcommand's.

A run's own status (what it found: within its declaration, broken, failed, interrupted)
is the result's, and its JSON says it too; the rest belong to the command line alone.
"""

from __future__ import annotations

from ..results import EXIT_BROKEN, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK

EXIT_USAGE = 2  # bad usage: nothing was started
EXIT_UNAVAILABLE = 4  # run --connect: the Manager server refused the authkey or cannot be reached
EXIT_TERMINATED = 143  # SIGTERM, stopped the same way as Ctrl-C

__all__ = ["EXIT_BROKEN", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TERMINATED", "EXIT_UNAVAILABLE",
           "EXIT_USAGE"]
