"""Imported by the forkserver process only: racecourse puts it first in the forkserver's
preload list (``sharing.preload_in_forkserver``), and nothing else imports it.

The forkserver ends with the process that started it. It would otherwise outlive a
racecourse killed with SIGKILL: every child it forks holds the pipe whose end-of-file
tells it to exit (so that the child can start processes of its own), and those children,
which end with *their* parent, the forkserver, wait for it in turn.
"""

from .child_signals import end_with_parent

end_with_parent()
