"""racecourse: race conditions in Python multiprocessing, demonstrated and verified."""

from .api import stress
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
    "stress",
    "__version__",
]
