"""Controlled scheduling: real worker processes, one visible operation at a time.

Under control, every read, write, acquire and release of the shared objects a worker
receives is a scheduling point, and the parent decides which process performs its next
one. Every race is reproducible from its schedule string and every safe scenario can be
checked over all interleavings at small sizes.

- :class:`Controller`: the workers of one scenario at one size, reused across schedules;
  ``controller.run(chooser)`` runs one schedule.
- :func:`explore`: many schedules with one strategy (exhaustive, random, pct).
- :func:`replay`: one given schedule, with its timeline.
- ``racecourse.control.hypothesis.choices()``: a hypothesis strategy for schedules.
"""

from .engine import (
    Abandon,
    ControlError,
    Controller,
    Execution,
    RunState,
    Step,
    refuse_uncontrollable,
)
from .exploration import DEFAULT_BUDGET, Exploration, FailingSchedule, ScheduleRun, explore
from .instrument import Uncontrollable, checkpoint
from .schedule import ScheduleError, format_schedule, parse_schedule
from .strategies import STRATEGIES, follow, replay, replaying
from .timeline import timeline_svg, timeline_text

# The name this class had before racecourse.Failure (a trial that did not complete) and
# it were told apart; kept so that code importing it keeps working.
Failure = FailingSchedule

__all__ = [
    "Abandon",
    "ControlError",
    "Controller",
    "DEFAULT_BUDGET",
    "Execution",
    "Exploration",
    "FailingSchedule",
    "Failure",
    "RunState",
    "STRATEGIES",
    "ScheduleError",
    "ScheduleRun",
    "Step",
    "Uncontrollable",
    "checkpoint",
    "explore",
    "follow",
    "format_schedule",
    "parse_schedule",
    "refuse_uncontrollable",
    "replay",
    "replaying",
    "timeline_svg",
    "timeline_text",
]
