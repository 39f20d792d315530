"""racecourse: race conditions in Python multiprocessing, demonstrated and verified."""

from .api import explore, stress
from .control.instrument import checkpoint
from .model import Defaults, Expect, Scenario
from .results import Failure, RunResult, TrialResult

__version__ = "0.1.0"

__all__ = [
    "Defaults",
    "Expect",
    "Failure",
    "RunResult",
    "Scenario",
    "TrialResult",
    "checkpoint",
    "explore",
    "stress",
    "__version__",
]
