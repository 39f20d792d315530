"""What the fault scenarios share: a marker file says to the test "hit me now".

The test that runs a scenario names the folder for the markers in
``RACECOURSE_FAULT_MARKERS`` (its own temporary folder); every process of the run
inherits it.
"""

from __future__ import annotations

import os

# How long a run may take to reach the state a test hits, and the timeout of the runs that
# end only by it (the killed Pool worker's run ends when racecourse notices the killed
# worker: its timeout only bounds a run that failed to notice).
WAIT_SECONDS = 60.0
MARKERS_VARIABLE = "RACECOURSE_FAULT_MARKERS"


def marker_path(name: str) -> str:
    return os.path.join(os.environ[MARKERS_VARIABLE], name)


def mark(name: str, text: object) -> None:
    path = marker_path(name)
    partial = f"{path}.{os.getpid()}.tmp"  # one per process: several may mark at once
    with open(partial, "w") as file:
        file.write(str(text))
    os.replace(partial, path)  # the test never reads half a file


def observe(counter):  # type: ignore[no-untyped-def]
    return counter.value
