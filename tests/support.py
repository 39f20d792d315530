"""Helpers shared by the test modules."""

from __future__ import annotations

import os
from typing import List, Set

from racecourse.sharing import available_start_methods

START_METHOD_VARIABLE = "RACECOURSE_START_METHOD"


def start_methods() -> List[str]:
    """The start methods this test session covers: the tox factor's one, else all available."""
    chosen = os.environ.get(START_METHOD_VARIABLE)
    if chosen:
        return [chosen]
    return available_start_methods()


def shm_entries() -> Set[str]:
    """Named semaphores and shared-memory blocks that multiprocessing leaves in /dev/shm."""
    try:
        names = os.listdir("/dev/shm")
    except FileNotFoundError:
        return set()
    return {n for n in names if n.startswith(("sem.", "psm_", "wnsm_", "mp-"))}
