"""tox finds every Python that pyenv installed, and the CPythons that
tools/debian_python.sh unpacked, not only the one on PATH.

tox looks for interpreters on PATH by name (python3.9, python3.14, pypy3). pyenv puts a
shim for each name on PATH, but a shim only answers for the versions selected in that
directory, so `tox p` would skip every other installed CPython as missing; and the
CPython 3.14 and 3.15 that tools/debian_python.sh takes from Debian's unstable suite live
in racecourse's own cache, on no PATH at all. This inline plugin (tox loads toxfile.py
next to tox.ini by itself) appends each $PYENV_ROOT/versions/*/bin and each
<cache>/python3.*/bin to the end of PATH, after whatever the user already has, so an
interpreter the user chose on PATH still wins and the rest are found.
"""

from __future__ import annotations

import glob
import os
from typing import Any, List

from tox.plugin import impl


def pyenv_bins() -> List[str]:
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    return sorted(path for path in glob.glob(os.path.join(root, "versions", "*", "bin")) if os.path.isdir(path))


def debian_python_bins() -> List[str]:
    """The interpreters tools/debian_python.sh built (the same cache location it uses)."""
    cache = os.environ.get("RACECOURSE_PYTHON_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "racecourse")
    return sorted(path for path in glob.glob(os.path.join(cache, "python3.*", "bin")) if os.path.isdir(path))


@impl
def tox_add_option(parser: Any) -> None:  # the first hook tox calls, before it looks for Pythons
    path = os.environ.get("PATH", "").split(os.pathsep)
    extra = [bin_dir for bin_dir in pyenv_bins() + debian_python_bins() if bin_dir not in path]
    if extra:
        os.environ["PATH"] = os.pathsep.join(path + extra)
