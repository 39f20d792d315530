"""Public names that load on first use (PEP 562), for racecourse's packages.

Every spawn or forkserver child imports racecourse afresh (a worker's module does
``from racecourse import Scenario``), and a controlled worker's child imports
``racecourse.control``; importing everything a package re-exports there would cost each
child tens of milliseconds it never uses. A package names each public name's home module
instead, and this gives it the module-level ``__getattr__`` and ``__dir__`` that load a
name the first time it is asked for.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Dict, List, Tuple


def lazy_names(package: str, homes: Dict[str, str]) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose public names live in ``homes``
    (name -> relative module)."""
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> Any:  # noqa: N807 (the module hook's own name)
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        namespace[name] = value  # found once; later lookups are ordinary attribute reads
        return value

    def __dir__() -> List[str]:  # noqa: N807
        return sorted(list(namespace) + list(homes))

    return __getattr__, __dir__
