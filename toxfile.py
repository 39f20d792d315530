"""tox finds every Python that pyenv installed, and the Debian-unstable CPythons that
tools/debian_python.sh set up, not only what is on PATH.

tox looks for interpreters on PATH by name (python3.9, python3.12, pypy3). pyenv puts a
shim for each name on PATH, but a shim only answers for the versions selected in that
directory, so `tox p` would skip every other installed CPython as missing; and
tools/debian_python.sh leaves python3.14 and python3.15 in racecourse's own cache
(${RACECOURSE_PYTHON_CACHE:-${XDG_CACHE_HOME:-~/.cache}/racecourse}/python3.X/bin), never
on PATH. This inline plugin (tox loads toxfile.py next to tox.ini by itself) appends each
$PYENV_ROOT/versions/*/bin, then each of those cache bin directories, to the end of PATH,
after whatever the user already has, so an interpreter the user chose on PATH still wins
and the rest are found. A directory that does not exist is left out.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from tox.plugin import impl


def existing_dirs(pattern: str) -> list[str]:
    return sorted(path for path in glob.glob(pattern) if os.path.isdir(path))


def pyenv_bins() -> list[str]:
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    return existing_dirs(os.path.join(root, "versions", "*", "bin"))


def debian_python_bins() -> list[str]:
    """The bin directories of tools/debian_python.sh, found where it puts them."""
    cache = os.environ.get("RACECOURSE_PYTHON_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "racecourse"
    )
    return existing_dirs(os.path.join(cache, "python3.*", "bin"))


@impl
def tox_add_option(parser: Any) -> None:  # the first hook tox calls, before it looks for Pythons
    path = os.environ.get("PATH", "").split(os.pathsep)
    extra = [bin_dir for bin_dir in pyenv_bins() + debian_python_bins() if bin_dir not in path]
    if extra:
        os.environ["PATH"] = os.pathsep.join(path + extra)
