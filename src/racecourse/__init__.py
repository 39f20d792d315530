"""racecourse: race conditions in Python multiprocessing, demonstrated and verified.

The public names load on first use (PEP 562). Every spawn or forkserver child imports
this package afresh (a worker's module does ``from racecourse import Scenario``), and
importing the controller, the exploration and the API there would cost each child tens
of milliseconds it never uses: a trial's child needs only what its worker touches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from .lazy import lazy_names

if TYPE_CHECKING:
    from .api import explore, replay, stress
    from .control.exploration import Exploration, ScheduleRun
    from .control.instrument import Uncontrollable, checkpoint
    from .errors import RacecourseError
    from .model import Acceptable, Defaults, Expect, Forbidden, Grade, Graded, Interesting, Scenario
    from .results import Failure, RunResult, TrialResult

__version__ = "0.1.0"

# Each public name and the module that defines it.
_HOMES: Dict[str, str] = {
    "Acceptable": ".model",
    "Defaults": ".model",
    "Forbidden": ".model",
    "Grade": ".model",
    "Graded": ".model",
    "Interesting": ".model",
    "Expect": ".model",
    "Scenario": ".model",
    "Exploration": ".control.exploration",
    "ScheduleRun": ".control.exploration",
    "checkpoint": ".control.instrument",
    "Uncontrollable": ".control.instrument",
    "RacecourseError": ".errors",
    "Failure": ".results",
    "RunResult": ".results",
    "TrialResult": ".results",
    "explore": ".api",
    "replay": ".api",
    "stress": ".api",
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)


__all__ = [
    "Acceptable",
    "Defaults",
    "Expect",
    "Exploration",
    "Failure",
    "Forbidden",
    "Grade",
    "Graded",
    "Interesting",
    "RacecourseError",
    "RunResult",
    "Scenario",
    "ScheduleRun",
    "TrialResult",
    "Uncontrollable",
    "checkpoint",
    "explore",
    "replay",
    "stress",
    "__version__",
]
