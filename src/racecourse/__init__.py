"""racecourse: race conditions in Python multiprocessing, demonstrated and verified."""

from .api import explore, replay, stress
from .control.exploration import Exploration, ScheduleRun
from .control.instrument import Uncontrollable, checkpoint
from .errors import RacecourseError
from .model import Defaults, Expect, Scenario
from .results import Failure, RunResult, TrialResult

__version__ = "0.1.0"

__all__ = [
    "Defaults",
    "Expect",
    "Exploration",
    "Failure",
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
