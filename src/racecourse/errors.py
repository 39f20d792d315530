"""The root of the errors racecourse raises on purpose.

``except racecourse.RacecourseError`` catches every one of them (a bad schedule, a
scenario control cannot run, an unknown scenario, a trial that timed out...), and
nothing else: a bug in your code or in racecourse still surfaces as itself.
"""


class RacecourseError(Exception):
    """An error racecourse raises on purpose, with a message meant for a person."""
