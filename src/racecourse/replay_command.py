"""The command that runs one schedule of a scenario again: ``racecourse replay`` for a
declared scenario, ``python -c "... racecourse.replay(...)"`` for one made in code."""

from __future__ import annotations

import json
import os
import shlex
import sys
from typing import Any, Optional

from .catalogue import target_of
from .model import FixedCount, Scenario, _product


def replay_command(scenario: Scenario, schedule: str, start_method: str) -> str:
    """A shell command that runs one schedule of ``scenario`` again and shows its timeline.

    A declared scenario replays with ``racecourse replay``; one made in code from functions
    replays through ``racecourse.replay(...)``, importing the same functions by name (from
    the directories they were imported from, so the command works from any directory)."""
    target = target_of(scenario)
    method = f" --start-method {start_method}" if start_method else ""
    if target is not None:
        return f"racecourse replay {shlex.quote(target)} --schedule {schedule}{method}"
    return _api_replay_command(scenario, schedule, start_method)


def _api_replay_command(scenario: Scenario, schedule: str, start_method: str) -> str:
    functions = {"build": scenario.build, "observe": scenario.observe, "check": scenario.check}
    if scenario.expected is not _product and not isinstance(scenario.expected, FixedCount):
        functions["expected"] = scenario.expected
    references = {"worker": _importable(scenario.worker)}
    references.update({name: _importable(function) for name, function in functions.items() if function is not None})
    if any(reference is None for reference in references.values()):
        return ("(no replay command: a function is not importable by name, so call racecourse.replay("
                f"<the same functions>, schedule={json.dumps(schedule)}, start_method={json.dumps(start_method)}))")
    modules = sorted({reference.rsplit(".", 1)[0] for reference in references.values() if reference})
    roots = sorted({_import_root(name) for name in modules} - {""})
    arguments = [str(references.pop("worker"))] + [f"{name}={reference}" for name, reference in references.items()]
    if isinstance(scenario.expected, FixedCount):
        arguments.append(f"expected={scenario.expected.value!r}")
    # Double-quoted Python strings (JSON's), so that the shell quoting stays readable.
    arguments += [f"schedule={json.dumps(schedule)}", f"start_method={json.dumps(start_method)}"]
    code = "; ".join([
        "import sys",
        *([f"sys.path[:0] = {json.dumps(roots)}"] if roots else []),
        f"import racecourse, {', '.join(modules)}",
        f"run = racecourse.replay({', '.join(arguments)})",
        "print(run.timeline())",
        "sys.exit(0 if run.ok else 1)",
    ])
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def _importable(function: Any) -> Optional[str]:
    """``module.name`` for a module-level function a fresh interpreter can import, else None."""
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", "")
    if not module or module == "__main__" or not name.isidentifier():
        return None
    return f"{module}.{name}"


def _import_root(module_name: str) -> str:
    """The directory a module was imported from (its top package's parent)."""
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if not isinstance(path, str):
        return ""
    root = os.path.dirname(os.path.abspath(path))
    levels = module_name.count(".") + (os.path.basename(path) == "__init__.py")
    for _ in range(levels):
        root = os.path.dirname(root)
    return root
