"""Finding scenarios: the built-in catalogue, a user's file, or an importable module.

A scenario module declares ``SCENARIO = Scenario(...)`` (or several ``Scenario`` objects
at module level); its docstring is the lesson. A child process finds the same scenario
again by (module name, file path, attribute), so workers never travel by pickle.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import pkgutil
import sys
import traceback
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import RacecourseError
from .model import Scenario

BUILTIN_PACKAGE = "racecourse.scenarios"


class UnknownScenario(RacecourseError, LookupError):
    """An id, file or module that names no scenario."""


class BadScenarioFile(UnknownScenario):
    """A user's scenario file or module that raised while racecourse imported it.

    ``str()`` is one line (the file, the line, the error); ``user_traceback`` is the part of
    the traceback that is the user's code (racecourse's and importlib's frames left out)."""

    def __init__(self, summary: str, user_traceback: str = "") -> None:
        super().__init__(summary)
        self.user_traceback = user_traceback


# Frames of racecourse, of the import machinery and of generated code (a dataclass
# __init__, "<string>") are not the user's code.
_NOT_THE_USERS = (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(importlib.__file__), "<")


def _import_failure(where: str, error: BaseException) -> BadScenarioFile:
    """One line naming the file, the line and the error; below it, the user's own frames
    when there are several (a file that imports another of theirs), or the caret of a
    syntax error."""
    frames = [
        frame for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith(_NOT_THE_USERS)
    ]
    last_line = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[-1]
    detail = ""
    if isinstance(error, SyntaxError) and error.filename:
        summary = f"{_shown(error.filename)}, line {error.lineno}: {type(error).__name__}: {error.msg}"
        detail = "".join(traceback.format_exception_only(type(error), error)).rstrip("\n")
    elif frames:
        summary = f"{_shown(frames[-1].filename)}, line {frames[-1].lineno}: {last_line}"
        if len(frames) > 1:
            detail = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)).rstrip("\n")
    else:
        summary = last_line
    prefix = f"cannot import {where}: " if where.startswith("module") else ""
    return BadScenarioFile(prefix + summary, detail)


def _shown(path: str) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    relative = os.path.relpath(path) if os.path.isabs(path) else path
    return path if relative.startswith(os.pardir) else relative


def _declared(module: ModuleType, path: Optional[str]) -> List[Scenario]:
    """The scenarios a module declares, with lesson and location filled in."""
    found = []
    for attribute, value in vars(module).items():
        if isinstance(value, Scenario) and value.module in ("", module.__name__):
            found.append(_located(value, module, path, attribute))
    return found


def _located(scenario: Scenario, module: ModuleType, path: Optional[str], attribute: str) -> Scenario:
    from dataclasses import replace

    lesson = scenario.lesson or (module.__doc__ or "").strip()
    # A copy: the user's module keeps its own object, so that every later use finds it there.
    return replace(scenario, lesson=lesson, module=module.__name__, path=path, attribute=attribute)


def builtin() -> List[Scenario]:
    """Every scenario shipped with racecourse, in catalogue order (file order in DESIGN)."""
    package = importlib.import_module(BUILTIN_PACKAGE)
    scenarios: List[Scenario] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{BUILTIN_PACKAGE}.{info.name}")
        scenarios.extend(_declared(module, None))
    order = getattr(package, "ORDER", [])
    rank = {scenario_id: position for position, scenario_id in enumerate(order)}
    return sorted(scenarios, key=lambda s: (rank.get(s.id, len(rank)), s.id))


def builtin_by_id() -> Dict[str, Scenario]:
    return {scenario.id: scenario for scenario in builtin()}


def _load_file(path: str) -> ModuleType:
    """Import a user's scenario file under a name a spawned child can import too."""
    path = os.path.abspath(path)
    directory, filename = os.path.split(path)
    name = os.path.splitext(filename)[0]
    if directory not in sys.path:
        sys.path.insert(0, directory)  # spawn and forkserver children inherit sys.path
    existing = sys.modules.get(name)
    if existing is not None and os.path.abspath(getattr(existing, "__file__", "") or "") == path:
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UnknownScenario(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's code: a syntax error, a missing import, ...
        del sys.modules[name]
        raise _import_failure(_shown(path), error) from None
    except BaseException:  # Ctrl-C while importing: not the file's fault
        del sys.modules[name]
        raise
    return module


def _split_selector(target: str) -> Tuple[str, Optional[str]]:
    """``file.py:name`` or ``package.module:name`` -> (location, name)."""
    location, sep, name = target.rpartition(":")
    if sep and location and not name.startswith(os.sep) and os.sep not in name:
        return location, name
    return target, None


def resolve(target: str) -> List[Scenario]:
    """Every scenario ``target`` names: a built-in id, ``file.py[:name]`` or ``module[:name]``."""
    known = builtin_by_id()
    if target in known:
        return [known[target]]
    location, name = _split_selector(target)
    if location.endswith(".py"):
        if not os.path.isfile(location):
            raise UnknownScenario(f"no such scenario file: {location}")
        path: Optional[str] = os.path.abspath(location)
        module = _load_file(location)
    elif "." in location or name is not None:
        path = None
        try:
            module = importlib.import_module(location)
        except ModuleNotFoundError as error:
            if error.name != location.split(".")[0] and error.name != location:
                raise _import_failure(f"module {location!r}", error) from None
            raise UnknownScenario(_unimportable_message(location, name, error)) from None
        except Exception as error:  # the module is there, but raised while importing
            raise _import_failure(f"module {location!r}", error) from None
    else:
        raise UnknownScenario(_file_hint(location, name) or _unknown_id_message(target, known))
    scenarios = _declared(module, path)
    if name is not None:
        scenarios = [s for s in scenarios if name in (s.id, s.attribute)]
    if not scenarios:
        where = f"{location}:{name}" if name else location
        raise UnknownScenario(f"{where} declares no racecourse Scenario")
    return scenarios


def resolve_one(target: str) -> Scenario:
    """The one scenario ``target`` names. The rule for a file that declares several:
    ``run`` and ``explain`` take them all, in file order; ``explore``, ``replay`` and
    ``play`` are about one scenario's schedules and need ``FILE.py:NAME``."""
    scenarios = resolve(target)
    if len(scenarios) > 1:
        names = ", ".join(s.attribute for s in scenarios)
        raise UnknownScenario(
            f"{target} declares {len(scenarios)} scenarios ({names}): explore, replay and play take one, "
            f"so add :NAME, e.g. {target}:{scenarios[0].attribute} (run and explain take them all)"
        )
    return scenarios[0]


def _file_hint(location: str, name: Optional[str]) -> Optional[str]:
    """What to say when ``location`` is a file given without ``.py``, or a file that is not
    Python: the command line takes files by path, so the ``.py`` is what was missing."""
    selector = f":{name}" if name else ""
    as_file = location.replace(".", os.sep) if not os.path.exists(location + ".py") else location
    if os.path.isfile(as_file + ".py"):
        return f"no scenario {location + selector!r}; did you mean the file {as_file + '.py' + selector!r}?"
    if os.path.isfile(location):
        return f"{location} is not a Python file: a scenario file's name ends in .py"
    return None


def _unimportable_message(location: str, name: Optional[str], error: ImportError) -> str:
    return _file_hint(location, name) or f"cannot import scenario module {location!r}: {error}"


def _unknown_id_message(target: str, known: Dict[str, Scenario]) -> str:
    close = difflib.get_close_matches(target, list(known), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else "; 'racecourse list' shows them all"
    return f"unknown scenario {target!r}{hint}"


def find_in_child(ref: Tuple[str, Optional[str], str]) -> Scenario:
    """The scenario a parent referred to, found again inside a child process."""
    module_name, path, attribute = ref
    module = _load_file(path) if path else importlib.import_module(module_name)
    scenario = getattr(module, attribute)
    if not isinstance(scenario, Scenario):
        raise TypeError(f"{module_name}.{attribute} is not a Scenario")
    if scenario.module != module_name:  # the module holds the declared object, not our located copy
        scenario = _located(scenario, module, path, attribute)
    return scenario


def worker_in_child(target: Any) -> Callable[..., Any]:
    """The worker function a child runs, from what ``Scenario.child_target`` gave it."""
    if callable(target):
        return target  # type: ignore[no-any-return]
    worker = find_in_child(target).worker
    if worker is None:
        raise TypeError(f"{target[0]}.{target[2]} has no worker")
    return worker


def locate(scenario: Scenario) -> Scenario:
    """``scenario`` with its location filled in, when a user passes a ``Scenario`` object
    that their module declares: child processes then find it by file and name, and its
    failures print a ``racecourse replay FILE.py:NAME`` command. Otherwise unchanged."""
    if scenario.module:
        return scenario
    # The module that declares it is, nearly always, the module of one of its functions.
    functions = (scenario.worker, scenario.build, scenario.check, scenario.observe)
    names = dict.fromkeys(getattr(function, "__module__", None) for function in functions if function is not None)
    for name in names:
        module = sys.modules.get(name or "")
        if module is None:
            continue
        for attribute, value in vars(module).items():
            if value is scenario:
                path = getattr(module, "__file__", None)
                return _located(scenario, module, os.path.abspath(path) if isinstance(path, str) else None, attribute)
    return scenario


def target_of(scenario: Scenario) -> Optional[str]:
    """What the command line calls ``scenario``: an id, ``FILE.py:NAME`` or ``MODULE:NAME``,
    or None for one made in code from functions (the public API)."""
    if scenario.module.startswith(BUILTIN_PACKAGE + "."):
        return scenario.id
    if scenario.path:
        path = os.path.relpath(scenario.path)
        return f"{scenario.path if path.startswith(os.pardir) else path}:{scenario.attribute}"
    if scenario.module:
        return f"{scenario.module}:{scenario.attribute}"
    return None
