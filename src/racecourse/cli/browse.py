"""``racecourse list`` and ``racecourse explain``: reading the catalogue."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import textwrap
from typing import Any, Dict, Sequence

from .. import catalogue, provenance
from ..model import Scenario
from ..report import catalogue_table, markdown_table, paint
from ..sharing import available_start_methods
from .options import UsageError, add_json, bounded, chosen_start_methods, start_methods
from .status import EXIT_FAILED


def add_parser(subparsers: Any) -> None:
    listing = subparsers.add_parser("list", help="the scenario catalogue")
    add_json(listing)
    listing.add_argument("--markdown", action="store_true", help="the catalogue as the README's Markdown table")
    listing.set_defaults(handler=list_scenarios)

    explain = subparsers.add_parser("explain", help="the lesson of one scenario and its worker's code")
    explain.add_argument("scenario", metavar="ID|FILE.py[:NAME]|MODULE[:NAME]")
    explain.add_argument("--provenance", action="store_true",
                         help="where each object the worker uses came from under each start method, "
                         "found in real child processes, and why the methods differ")
    explain.add_argument("--start-method", "-m", type=start_methods, metavar="M",
                         help="with --provenance: fork, spawn or forkserver, a comma list of them, or all (the default)")
    explain.add_argument("--processes", "-p", type=bounded("processes", 1, MAX_PROVENANCE_CHILDREN), metavar="N",
                         help=f"with --provenance: children per start method, 1 to {MAX_PROVENANCE_CHILDREN} (default: 2)")
    add_json(explain)
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


MAX_PROVENANCE_CHILDREN = 8


def explain_scenario(args: argparse.Namespace) -> int:
    if args.provenance:
        return explain_provenance(args)
    if args.start_method is not None or args.processes is not None or args.json:
        raise UsageError("--start-method, --processes and --json go with --provenance")
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


def explain_provenance(args: argparse.Namespace) -> int:
    """``explain ID --provenance``: one block per object, one line per start method."""
    methods = ([m for m in chosen_start_methods(args.start_method) if m] if args.start_method is not None
               else available_start_methods())
    processes = args.processes or 2
    reports = []
    for scenario in catalogue.resolve(args.scenario):
        try:
            results = provenance.probe_methods(scenario, methods, processes)
        except provenance.NotAWorkerScenario as error:
            raise UsageError(str(error)) from None
        except provenance.ProvenanceError as error:
            print(f"racecourse: {error}", file=sys.stderr)
            return EXIT_FAILED
        reports.append((scenario, results))
    if args.json:
        print(json.dumps([provenance_json(scenario, results) for scenario, results in reports], indent=2))
        return 0
    for scenario, results in reports:
        print(provenance_text(scenario, results))
    return 0


def provenance_json(scenario: Scenario, results: Sequence[provenance.MethodProvenance]) -> Dict[str, Any]:
    objects = []
    for number, first in enumerate(results[0].objects if results else []):
        objects.append({
            "name": first.name,
            "where": first.where,
            "kind": first.kind,
            "methods": {
                result.start_method: {
                    "how": result.objects[number].how,
                    "sharing": result.objects[number].sharing,
                    "shared": result.objects[number].shared,
                    "identities": result.objects[number].identities,
                }
                for result in results
            },
        })
    return {"scenario": scenario.id, "processes": results[0].processes if results else 0,
            "start_methods": [result.start_method for result in results], "objects": objects,
            "why": provenance.why_methods_differ(results),
            "notes": {result.start_method: result.note for result in results if result.note}}


def provenance_text(scenario: Scenario, results: Sequence[provenance.MethodProvenance]) -> str:
    processes = results[0].processes if results else 0
    who = "the worker uses" if scenario.worker is not None else "the program's processes use"
    lines = [paint(f"{scenario.id}: where each object {who} came from "
                   f"({processes} {'child' if processes == 1 else 'children'} per start method)", "bold")]
    if not results or not results[0].objects:
        lines.append("  the worker receives nothing and names no module-level object: nothing to trace"
                     if scenario.worker is not None else
                     "  the program's Pools and Processes hand their children nothing, and their functions name "
                     "no module-level object: nothing to trace")
    for result in results:
        if result.note:
            lines.append(f"  {result.start_method}: {result.note}")
    width = max(len(result.start_method) for result in results) if results else 0
    for number, first in enumerate(results[0].objects if results else []):
        lines.append("")
        lines.append(f"{first.name} ({first.where}, {first.kind})")
        for result in results:
            entry = result.objects[number]
            lines.append(f"  {result.start_method.ljust(width)}  {entry.describe()}")
            if not entry.shared and any(entry.identities.values()):
                seen = ", ".join(f"{'the parent' if who == 'parent' else 'child ' + who}: {identity}"
                                 for who, identity in entry.identities.items())
                lines.append(f"  {' ' * width}  ({seen})")
    why = provenance.why_methods_differ(results)
    if why:
        lines.append("")
        lines.append(paint("Why the start method matters here:", "bold"))
        lines.extend(textwrap.fill(line, 100, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)
                     for line in why)
    return "\n".join(lines)
