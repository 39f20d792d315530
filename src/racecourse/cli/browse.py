"""``racecourse list`` and ``racecourse explain``: reading the catalogue."""

from __future__ import annotations

import argparse
import inspect
import json
import textwrap
from typing import Any

from .. import catalogue
from ..report import catalogue_table, markdown_table, paint
from .options import add_json


def add_parser(subparsers: Any) -> None:
    listing = subparsers.add_parser("list", help="the scenario catalogue")
    add_json(listing)
    listing.add_argument("--markdown", action="store_true", help="the catalogue as the README's Markdown table")
    listing.set_defaults(handler=list_scenarios)

    explain = subparsers.add_parser("explain", help="the lesson of one scenario and its worker's code")
    explain.add_argument("scenario", metavar="ID|FILE.py[:NAME]|MODULE[:NAME]")
    explain.set_defaults(handler=explain_scenario)


def list_scenarios(args: argparse.Namespace) -> int:
    scenarios = catalogue.builtin()
    if args.json:
        print(json.dumps([
            {
                "id": s.id,
                "title": s.title,
                "expect": s.expect.value,
                "counter": s.is_counter,
                "defaults": {
                    "processes": s.defaults.processes,
                    "ops": s.defaults.ops,
                    "trials": s.defaults.trials,
                    "timeout": s.defaults.timeout,
                },
            }
            for s in scenarios
        ], indent=2))
    elif args.markdown:
        print(markdown_table(scenarios))
    else:
        print(catalogue_table(scenarios))
    return 0


def explain_scenario(args: argparse.Namespace) -> int:
    for scenario in catalogue.resolve(args.scenario):
        print(paint(f"{scenario.id}: {scenario.title}", "bold"))
        print(f"expectation: {scenario.expect.value}")
        print()
        print(textwrap.indent(scenario.lesson, "  "))
        print()
        code = scenario.worker or scenario.program
        assert code is not None
        role = "The worker each process runs" if scenario.worker else "The program the parent runs"
        print(paint(f"{role}:", "bold"))
        print(textwrap.indent(inspect.getsource(code).rstrip(), "  "))
        print()
    return 0
