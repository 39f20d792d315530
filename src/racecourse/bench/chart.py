"""The cost table as text, and as a bar chart on a log scale (hand-written SVG, stdlib only)."""

from __future__ import annotations

import math
from html import escape as _escape
from typing import Dict, List, Optional, Sequence, Tuple

from ..report import table
from .measure import PROCESS_COUNTS, BenchResult, Cost
from .strategies import STRATEGIES


def escape(text: str) -> str:
    """&, < and > as entities (html's escape, which loads far less than xml.sax's)."""
    return _escape(text, quote=False)


def rate(value: float) -> str:
    """Operations per second, short: 7.1M, 450k, 9.8k, 312."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def ratio(value: float) -> str:
    return f"{value:.3g}x" if value >= 0.01 else f"1/{1 / value:,.0f}" if value > 0 else "-"


def _grid(costs: Sequence[Cost]) -> Dict[Tuple[str, str, int], Cost]:
    return {(c.start_method, c.name, c.processes): c for c in costs}


def _methods(costs: Sequence[Cost]) -> List[str]:
    return list(dict.fromkeys(c.start_method for c in costs))


def cost_tables(costs: Sequence[Cost]) -> str:
    """One table per start method: increments per second and the ratio to raw Value."""
    grid = _grid(costs)
    blocks = []
    for method in _methods(costs):
        rows = []
        for strategy in STRATEGIES:
            row = [strategy.name]
            for processes in PROCESS_COUNTS:
                cost = grid.get((method, strategy.name, processes))
                row.append(f"{rate(cost.ops_per_s)}/s ({ratio(cost.vs_raw)})" if cost else "")
            rows.append(row)
        headers = [f"{method}: increments"] + [f"{n} process{'es' if n > 1 else ''}" for n in PROCESS_COUNTS]
        blocks.append(table(headers, rows))
    return "\n\n".join(blocks)


def summary(result: BenchResult) -> str:
    """Every figure of a bench run, for a person."""
    lines = [cost_tables(result.strategies), ""]
    lines.append("Harness overhead (raw-value, 2 processes, first start to last done, medians):")
    for entry in result.overhead:
        lines.append(f"  {entry.start_method:<10} racecourse {entry.racecourse_s * 1000:8.1f} ms   "
                     f"plain script {entry.plain_s * 1000:8.1f} ms   ratio {entry.ratio:.3f}")
    lines.append("Fast trials (raw-value, 2 processes x 1 op):")
    for method, per_s in result.trials_per_s.items():
        lines.append(f"  {method:<10} {per_s:10,.0f} trials/s   {100 * result.race_share[method]:.1f}% lost an update")
    if result.schedules_per_s is None:
        lines.append(f"Controlled schedules: {result.schedules_note}")
    else:
        lines.append(f"Controlled schedules: {result.schedules_per_s:,.0f} schedules/s ({result.schedules_note})")
    if result.control:
        lines.append("Controlled schedules (raw-value, random schedules; steps/s against a bare pipe round trip, same run):")
        for measured in result.control:
            size = f"{measured.processes}x{measured.ops}"
            lines.append(f"  {measured.start_method:<10} {size}  {measured.schedules_per_s:9,.0f} schedules/s"
                         f"  {measured.steps_per_s:9,.0f} steps/s  floor {measured.floor_per_s:9,.0f} round trips/s"
                         f"  ratio {measured.vs_floor:.2f}")
    mode = "quick" if result.quick else "full"
    lines.append(f"({mode} run, {result.seconds:.0f} s)")
    return "\n".join(lines)


# -- SVG ----------------------------------------------------------------------------------

_COLOURS = {1: "#9ecae1", 2: "#4292c6", 4: "#08519c"}
_LEFT, _RIGHT, _BAR, _GAP, _TOP = 190, 40, 7, 8, 46
_WIDTH = 880


def svg(costs: Sequence[Cost], title: Optional[str] = None) -> str:
    """A horizontal bar chart per start method; the x axis is increments per second, log scale."""
    if not costs:
        raise ValueError("nothing to draw: the cost table is empty")
    low = 10 ** math.floor(math.log10(min(c.ops_per_s for c in costs)))
    high = 10 ** math.ceil(math.log10(max(c.ops_per_s for c in costs)))
    span = math.log10(high) - math.log10(low)
    plot = _WIDTH - _LEFT - _RIGHT

    def x(value: float) -> float:
        return _LEFT + plot * (math.log10(value) - math.log10(low)) / span

    grid = _grid(costs)
    row_height = len(PROCESS_COUNTS) * _BAR + _GAP
    panel_height = _TOP + len(STRATEGIES) * row_height + 10
    methods = _methods(costs)
    height = 40 + panel_height * len(methods) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{_WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{_LEFT}" y="24" font-size="16" font-weight="bold">'
        f'{escape(title or "Sharing a counter: increments per second (log scale)")}</text>',
    ]
    for panel, method in enumerate(methods):
        top = 40 + panel * panel_height
        out.append(f'<text x="10" y="{top + 20}" font-size="14" font-weight="bold">{escape(method)}</text>')
        decade = low
        while decade <= high:  # one gridline per power of ten
            gx = x(decade)
            out.append(f'<line x1="{gx:.1f}" y1="{top + 28}" x2="{gx:.1f}" y2="{top + panel_height - 8}" stroke="#ddd"/>')
            out.append(f'<text x="{gx:.1f}" y="{top + 24}" text-anchor="middle" fill="#555">{rate(decade)}</text>')
            decade *= 10
        for row, strategy in enumerate(STRATEGIES):
            y = top + _TOP + row * row_height
            out.append(f'<text x="{_LEFT - 8}" y="{y + len(PROCESS_COUNTS) * _BAR / 2 + 4:.1f}" '
                       f'text-anchor="end">{escape(strategy.name)}</text>')
            for offset, processes in enumerate(PROCESS_COUNTS):
                cost = grid.get((method, strategy.name, processes))
                if cost is None:
                    continue
                bar_y = y + offset * _BAR
                width = max(1.0, x(cost.ops_per_s) - _LEFT)
                out.append(
                    f'<rect x="{_LEFT}" y="{bar_y}" width="{width:.1f}" height="{_BAR - 1}" fill="{_COLOURS[processes]}">'
                    f'<title>{escape(strategy.name)}, {processes} processes, {method}: '
                    f'{rate(cost.ops_per_s)}/s ({ratio(cost.vs_raw)} raw Value)</title></rect>'
                )
    legend_y = height - 14
    for offset, processes in enumerate(PROCESS_COUNTS):
        lx = _LEFT + offset * 110
        out.append(f'<rect x="{lx}" y="{legend_y - 10}" width="12" height="10" fill="{_COLOURS[processes]}"/>')
        out.append(f'<text x="{lx + 16}" y="{legend_y}">{processes} process{"es" if processes > 1 else ""}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
