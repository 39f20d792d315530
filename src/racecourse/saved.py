"""Failures that outlive the run: failing schedules kept in a file, replayed first next time.

An exploration that finds a failing schedule has done the hard part; the schedule itself
is a few bytes. ``racecourse explore ID --save FILE`` writes every failing schedule it kept
(one per distinct failing outcome) with what is needed to run it again: the scenario as
the command line names it, the sized schedule, the start method, and the interpreter it
failed on. ``racecourse replay --from FILE`` runs each of them again, the pytest plugin
keeps the same records in pytest's cache and replays them before exploring, as a
regression seed: a bug that was found once is checked first, in a few milliseconds, on
every later run, and a fixed one drops out of the file.

The file is JSON: ``{"format": 1, "failures": [{scenario, scenario_id, schedule,
start_method, outcome, python, implementation}]}``.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from typing import Any, List, Sequence

from .catalogue import target_of
from .errors import RacecourseError

FORMAT = 1


class SavedFileError(RacecourseError):
    """A file of saved failures that cannot be read or written."""


@dataclass(frozen=True)
class SavedFailure:
    scenario: str  # as the command line names it: an id, FILE.py:NAME or MODULE:NAME
    scenario_id: str
    schedule: str  # sized: "2x1:0110"
    start_method: str
    outcome: str = ""
    python: str = platform.python_version()
    implementation: str = platform.python_implementation()


def failures_of(explorations: Sequence[Any]) -> List[SavedFailure]:
    """Every failing schedule the explorations kept (``failures``, else ``first_failure``)."""
    found: List[SavedFailure] = []
    for result in explorations:
        target = target_of(result.scenario)
        if target is None:  # made in code from functions: nothing a command could name
            continue
        kept = list(getattr(result, "failures", None) or ([result.first_failure] if result.first_failure else []))
        found.extend(SavedFailure(target, result.scenario.id, failure.sized, result.start_method, failure.outcome)
                     for failure in kept)
    return found


def check_writable(path: str) -> None:
    """Refuse, before anything runs, a path the failures cannot be written to."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise SavedFileError(f"--save {path}: is a directory; give a file name")
    if not os.path.isdir(directory):
        raise SavedFileError(f"--save {path}: no such directory {directory}")
    if not os.access(directory, os.W_OK):
        raise SavedFileError(f"--save {path}: cannot write in {directory}")


def save(path: str, failures: Sequence[SavedFailure]) -> None:
    data = {"format": FORMAT, "failures": [asdict(failure) for failure in failures]}
    try:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
    except OSError as error:
        raise SavedFileError(f"--save {path}: {error.strerror or error}") from None


def load(path: str) -> List[SavedFailure]:
    """The failures a file holds; one clear error for a file that is missing or not one."""
    try:
        with open(path, encoding="utf-8") as source:
            data = json.load(source)
    except FileNotFoundError:
        raise SavedFileError(f"--from {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SavedFileError(f"--from {path}: cannot read it ({error})") from None
    except json.JSONDecodeError as error:
        raise SavedFileError(f"--from {path}: not a file of saved failures (not JSON: {error.msg}, "
                             f"line {error.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("failures"), list):
        raise SavedFileError(f"--from {path}: not a file of saved failures ('explore --save' writes them)")
    fields = set(SavedFailure.__dataclass_fields__)
    failures = []
    for number, entry in enumerate(data["failures"], 1):
        if not isinstance(entry, dict) or not {"scenario", "scenario_id", "schedule", "start_method"} <= set(entry):
            raise SavedFileError(f"--from {path}: failure {number} lacks its scenario, schedule or start method")
        failures.append(SavedFailure(**{key: str(value) for key, value in entry.items() if key in fields}))
    return failures
