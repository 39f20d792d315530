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

The names load on first use (PEP 562), as racecourse's own do: a controlled worker's
child imports ``racecourse.control.engine``, and with it this package, and has no use
for the exploration, the strategies or the timeline (the timeline's SVG escaping alone
pulls in urllib, http and ssl).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from ..lazy import lazy_names

if TYPE_CHECKING:
    from .engine import Abandon, ControlError, Controller, Execution, Livelock, RunState, Status, Step, refuse_uncontrollable
    from .exploration import DEFAULT_BUDGET, Exploration, FailingSchedule, Failure, ScheduleRun, explore
    from .instrument import Uncontrollable, checkpoint
    from .schedule import ScheduleError, format_schedule, parse_schedule
    from .strategies import STRATEGIES, follow, replay, replaying
    from .timeline import timeline_svg, timeline_text

# Each public name and the module that defines it.
_HOMES: Dict[str, str] = {
    **dict.fromkeys(["Abandon", "ControlError", "Controller", "Execution", "Livelock", "RunState", "Status", "Step",
                     "refuse_uncontrollable"], ".engine"),
    # Failure: FailingSchedule's name before racecourse.Failure (a trial that did not
    # complete) and it were told apart; kept so that code importing it keeps working.
    **dict.fromkeys(["DEFAULT_BUDGET", "Exploration", "FailingSchedule", "Failure", "ScheduleRun", "explore"],
                    ".exploration"),
    **dict.fromkeys(["Uncontrollable", "checkpoint"], ".instrument"),
    **dict.fromkeys(["ScheduleError", "format_schedule", "parse_schedule"], ".schedule"),
    **dict.fromkeys(["STRATEGIES", "follow", "replay", "replaying"], ".strategies"),
    **dict.fromkeys(["timeline_svg", "timeline_text"], ".timeline"),
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)

__all__ = [
    "Abandon",
    "ControlError",
    "Controller",
    "DEFAULT_BUDGET",
    "Execution",
    "Exploration",
    "FailingSchedule",
    "Failure",
    "Livelock",
    "RunState",
    "STRATEGIES",
    "Status",
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
