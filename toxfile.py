"""tox finds every Python that pyenv installed, not only the one pyenv has selected.

tox looks for interpreters on PATH by name (python3.9, python3.12, pypy3). pyenv puts a
shim for each name on PATH, but a shim only answers for the versions selected in that
directory, so `tox p` would skip every other installed CPython as missing. This inline
plugin (tox loads toxfile.py next to tox.ini by itself) appends each
$PYENV_ROOT/versions/*/bin to the end of PATH, after whatever the user already has, so
an interpreter the user chose on PATH still wins and the rest are found.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from tox.plugin import impl


def pyenv_bins() -> list[str]:
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    return sorted(path for path in glob.glob(os.path.join(root, "versions", "*", "bin")) if os.path.isdir(path))


@impl
def tox_add_option(parser: Any) -> None:  # the first hook tox calls, before it looks for Pythons
    path = os.environ.get("PATH", "").split(os.pathsep)
    extra = [bin_dir for bin_dir in pyenv_bins() if bin_dir not in path]
    if extra:
        os.environ["PATH"] = os.pathsep.join(path + extra)
