"""``run … --html FILE`` and ``explore … --html FILE``: one self-contained HTML report.

Per scenario: its lesson and its worker's code, then per start method the verdict, the
outcome histogram (a table and an inline SVG bar chart) and, for an exploration, the
timeline of each failing schedule it kept. No external asset: the CSS and the charts are
inline, so the file works offline and as a CI artifact. Everything that comes from a user
(titles, lessons, code, outcomes, the command line) is escaped.
"""

from __future__ import annotations

import datetime
import html
import inspect
import os
import platform
import shlex
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

from .. import __version__
from ..control import Exploration, ScheduleRun
from ..control.timeline import ending
from ..errors import RacecourseError
from ..model import Expect, Scenario
from ..results import FastRunResult, RunResult, TrialResult, sizes

AnyResult = Union[RunResult, FastRunResult, Exploration]


class UnwritableReport(RacecourseError):
    """The report's path cannot be written: found before anything runs."""


def check_path(path: Optional[str]) -> None:
    """Refuse a report path that cannot be written (a directory, a missing directory, a place
    without write permission) by trying it, before anything runs: an existing file is opened
    for appending and left as it was, a new one is created and removed again."""
    if not path:
        return
    if os.path.isdir(path):
        raise UnwritableReport(f"cannot write the HTML report to {path}: it is a directory")
    try:
        if os.path.exists(path):
            open(path, "ab").close()
        else:
            open(path, "xb").close()
            os.remove(path)
    except OSError as error:
        raise UnwritableReport(f"cannot write the HTML report to {path}: {error.strerror or error}") from None


def write(path: Optional[str], results: Sequence[AnyResult], command: Optional[Sequence[str]] = None) -> None:
    """Write the report of ``results`` to ``path`` (nothing when ``path`` is None)."""
    if not path:
        return
    text = render(results, command)
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as error:
        raise UnwritableReport(f"cannot write the HTML report to {path}: {error.strerror or error}") from None


# -- what each kind of result shows ------------------------------------------------------------


@dataclass
class Row:
    """One bar of the histogram: an outcome, how often it came, whether that was right."""

    outcome: str
    count: int
    ok: bool


def _trial_outcome(scenario: Scenario, trial: TrialResult) -> str:
    if trial.failure is not None:
        return f"did not complete: {trial.failure.describe()}"
    if trial.violation is not None:
        return trial.violation
    if trial.observed is not None:
        name = "count" if scenario.counts_updates else "value"
        lost = f" ({trial.lost:,} lost)" if scenario.counts_updates and trial.lost else ""
        return f"{name}={trial.observed:,}{lost}"
    return "invariant held" if scenario.check is not None else "as documented" if trial.ok else "wrong"


def rows_of(result: AnyResult) -> List[Row]:
    """The outcome histogram of any result, most frequent first."""
    if isinstance(result, FastRunResult):
        rows = []
        for entry in result.histogram():
            label = f"{'count' if result.scenario.counts_updates else 'value'}={entry.outcome:,}" \
                if isinstance(entry.outcome, int) else str(entry.outcome)
            if entry.lost:
                label += f" ({entry.lost:,} lost)"
            rows.append(Row(label, entry.count, entry.ok))
        return rows
    if isinstance(result, RunResult):
        counts: Dict[str, List[int]] = {}
        for trial in result.trials:
            tally = counts.setdefault(_trial_outcome(result.scenario, trial), [0, 1])
            tally[0] += 1
            tally[1] &= int(trial.ok)
        return sorted((Row(outcome, n, bool(ok)) for outcome, (n, ok) in counts.items()), key=lambda r: -r.count)
    failing = {failure.outcome for failure in failures_of(result)}
    return [Row(outcome, count, outcome not in failing and _correct_outcome(result, outcome))
            for outcome, count in result.outcomes.items()]


def _correct_outcome(result: Exploration, outcome: str) -> bool:
    """Whether an exploration's outcome is the right one: the exact count or value, the
    invariant holding, or (an error scenario) the documented error."""
    scenario = result.scenario
    if outcome == "deadlock":
        return False
    if outcome.startswith("error in process"):
        raises = scenario.raises.__name__ if scenario.raises else None
        return scenario.expect is Expect.ERROR and raises is not None and f": {raises}:" in outcome
    if scenario.observe is not None:
        name = "count" if scenario.counts_updates else "value"
        return outcome == f"{name}={scenario.expected(result.processes, result.ops)}"
    return outcome == "invariant holds"


def failures_of(result: Exploration) -> List[ScheduleRun]:
    """Every failing schedule the exploration kept: its ``failures`` (one per distinct failing
    outcome) when it has them, else its first failure."""
    kept = getattr(result, "failures", None)
    if kept:
        return list(kept)
    return [result.first_failure] if result.first_failure is not None else []


def _worker_source(scenario: Scenario) -> str:
    code = scenario.worker or scenario.program
    try:
        return inspect.getsource(code).rstrip() if code is not None else ""
    except (OSError, TypeError):
        return f"(the source of {getattr(code, '__qualname__', code)!s} is not available)"


# -- HTML ---------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #1c2128; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-bottom: .3em; } .meta { color: #57606a; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: .7em; overflow-x: auto; font-size: .9em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; } .bad { color: #cf222e; font-weight: bold; }
.verdict { font-size: 1.15em; padding: .4em .7em; border-left: 5px solid; }
.verdict.ok { border-color: #1a7f37; background: #dafbe1; } .verdict.bad { border-color: #cf222e; background: #ffebe9; }
tr.lost td { background: #ffebe9; } td.lane { font-family: monospace; min-width: 14em; }
.method { margin-left: 1em; border-left: 3px solid #d0d7de; padding-left: 1em; }
code { background: #f6f8fa; padding: 0 .3em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)


def bar_chart(rows: Sequence[Row], title: str) -> str:
    """An inline SVG chart: one horizontal bar per outcome, green if right, red if wrong."""
    label_width, bar_width, row_height = 300, 360, 24
    height = row_height * max(1, len(rows)) + 10
    width = label_width + bar_width + 90
    biggest = max([row.count for row in rows] + [1])
    total = sum(row.count for row in rows) or 1
    out = [f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">', f"<title>{_e(title)}</title>"]
    for index, row in enumerate(rows):
        y = 5 + index * row_height
        length = max(2, round(bar_width * row.count / biggest))
        colour = "#2da44e" if row.ok else "#cf222e"
        label = row.outcome if len(row.outcome) <= 46 else row.outcome[:45] + "…"
        out.append(f'<text x="{label_width - 6}" y="{y + 16}" text-anchor="end">{_e(label)}</text>')
        out.append(f'<rect x="{label_width}" y="{y + 3}" width="{length}" height="{row_height - 6}" fill="{colour}"/>')
        out.append(f'<text x="{label_width + length + 6}" y="{y + 16}">{row.count:,} ({100 * row.count / total:.1f}%)</text>')
    out.append("</svg>")
    return "".join(out)


def _histogram(result: AnyResult, what: str) -> List[str]:
    rows = rows_of(result)
    total = sum(row.count for row in rows) or 1
    out = [f"<h3>Outcomes ({_e(what)})</h3>", bar_chart(rows, f"outcomes of {result.scenario.id}, {result.start_method}")]
    out.append('<table class="outcomes"><tr><th>outcome</th><th>count</th><th>share</th><th>right?</th></tr>')
    for row in rows:
        mark = '<span class="ok">yes</span>' if row.ok else '<span class="bad">no</span>'
        out.append(f'<tr><td>{_e(row.outcome)}</td><td class="num">{row.count:,}</td>'
                   f'<td class="num">{100 * row.count / total:.1f}%</td><td>{mark}</td></tr>')
    out.append("</table>")
    return out


def timeline_table(run: ScheduleRun) -> str:
    """One schedule's steps as a table: a lane per process, the shared state after each."""
    execution = run.execution
    lanes = execution.processes
    head = "".join(f"<th>process {p}</th>" for p in range(lanes))
    out = [f'<table class="timeline"><tr><th>step</th>{head}<th>shared</th></tr>']
    for number, step in enumerate(execution.steps, 1):
        cells = []
        for p in range(lanes):
            text = step.describe() + (" LOST" if step.lost else "") if p == step.process else ""
            cells.append(f'<td class="lane">{_e(text)}</td>')
        css = ' class="lost"' if step.lost else ""
        out.append(f'<tr{css}><td class="num">{number}</td>{"".join(cells)}<td>{_e(step.state or "")}</td></tr>')
        if step.lost:
            out.append(f'<tr class="lost"><td></td><td colspan="{lanes + 1}">process {step.process} {_e(step.lost)}: '
                       "that update is lost</td></tr>")
    out.append("</table>")
    css = "ok" if execution.correct else "bad"
    out.extend(f'<p class="{css}">{_e(line)}</p>' for line in ending(execution))
    return "".join(out)


def _method_section(result: AnyResult) -> List[str]:
    scenario = result.scenario
    if isinstance(result, Exploration):
        scope = "complete" if result.complete else "budget reached" if result.strategy == "exhaustive" else "sampled"
        what = f"{result.strategy} exploration, {sizes(result.processes, result.ops)}, {result.schedules:,} schedules ({scope})"
        unit = "schedules"
    elif isinstance(result, FastRunResult):
        what = f"fast trials, {sizes(result.processes, result.ops)}, {result.trial_count:,} trials"
        unit = "trials"
    else:
        what = f"stress run, {sizes(result.processes, result.ops)}, {len(result.trials):,} trials"
        unit = "trials"
    css = "ok" if result.ok else "bad"
    out = [f'<section class="method" id="{_e(_anchor(scenario.id + "-" + result.start_method))}">',
           f"<h3>{_e(result.start_method)}: {_e(what)}</h3>",
           f'<p class="verdict {css}">{_e(result.expect.value)} scenario: {_e(result.verdict())} '
           f"(exit status {result.exit_status})</p>"]
    out.extend(_histogram(result, unit))
    if isinstance(result, Exploration):
        for failure in failures_of(result):
            out.append(f"<h3>Failing schedule <code>{_e(failure.sized)}</code>: {_e(failure.outcome)}</h3>")
            out.append(f"<p>Replay it: <code>{_e(failure.replay_command)}</code></p>")
            out.append(timeline_table(failure))
    elif isinstance(result, RunResult):
        out.append(f"<pre>{_e(result.report())}</pre>" if not result.ok else "")
    out.append("</section>")
    return out


def render(results: Sequence[AnyResult], command: Optional[Sequence[str]] = None) -> str:
    """The whole report as one HTML document."""
    by_scenario: Dict[str, List[AnyResult]] = {}
    for result in results:
        by_scenario.setdefault(result.scenario.id, []).append(result)
    words = command if command is not None else ["racecourse", *sys.argv[1:]]
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>racecourse report</title>", f"<style>{_STYLE}</style></head><body>",
           "<h1>racecourse report</h1>",
           f'<p class="meta"><code>{_e(" ".join(shlex.quote(w) for w in words))}</code><br>'
           f"racecourse {_e(__version__)}, {_e(platform.python_implementation())} {_e(platform.python_version())}, "
           f"{_e(when)}</p>"]
    out.append('<table class="summary"><tr><th>scenario</th><th>method</th><th>expect</th><th>verdict</th></tr>')
    for result in results:
        css = "ok" if result.ok else "bad"
        anchor = _anchor(result.scenario.id + "-" + result.start_method)
        out.append(f'<tr><td><a href="#{_e(anchor)}">{_e(result.scenario.id)}</a></td><td>{_e(result.start_method)}</td>'
                   f'<td>{_e(result.expect.value)}</td><td class="{css}">{_e(result.verdict())}</td></tr>')
    out.append("</table>")
    for scenario_results in by_scenario.values():
        scenario = scenario_results[0].scenario
        role = "The worker each process runs" if scenario.worker else "The program the parent runs"
        out.append(f'<section class="scenario"><h2>{_e(scenario.id)}: {_e(scenario.title)}</h2>')
        if scenario.lesson:
            out.append(f'<h3>The lesson</h3><pre class="lesson">{_e(scenario.lesson)}</pre>')
        out.append(f'<h3>{role}</h3><pre class="code">{_e(_worker_source(scenario))}</pre>')
        for result in scenario_results:
            out.extend(_method_section(result))
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


__all__ = ["UnwritableReport", "check_path", "render", "write"]
