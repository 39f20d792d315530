"""What users install contains the whole catalogue.

A package list that forgot a subpackage once shipped a racecourse without its command
line; these tests build the distributions the way a user's installer does (an sdist,
then a wheel from that sdist) and look inside.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

from racecourse import catalogue

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the source tree"),
              pytest.mark.start_method_independent]

_NOT_SOURCE = shutil.ignore_patterns(".git", ".tox", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis")


@pytest.fixture(scope="module")
def wheel_from_sdist(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """``python -m build`` makes an sdist, then a wheel from that sdist, as PyPA's
    reference front end does for a release (in an isolated build environment)."""
    pytest.importorskip("build")
    work = tmp_path_factory.mktemp("packaging")
    tree = work / "tree"
    shutil.copytree(ROOT, tree, ignore=_NOT_SOURCE)
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(tree)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (work / "dist").glob("*.whl")
    return zipfile.ZipFile(wheel)


def test_every_package_directory_is_in_the_wheel(wheel_from_sdist: zipfile.ZipFile) -> None:
    names = set(wheel_from_sdist.namelist())
    for init in sorted((ROOT / "src").rglob("__init__.py")):
        shipped = init.relative_to(ROOT / "src").as_posix()
        assert shipped in names, f"{shipped} is missing: add its package to pyproject's packages"
    assert "racecourse/py.typed" in names
    assert "racecourse/web/play.html" in names  # package data: the page play --web serves


def test_every_scenario_file_is_in_the_wheel(wheel_from_sdist: zipfile.ZipFile) -> None:
    names = set(wheel_from_sdist.namelist())
    for path in sorted((ROOT / "scenarios").glob("*.py")):
        assert f"racecourse/scenarios/{path.name}" in names
    shipped_modules = {scenario.module for scenario in catalogue.builtin()}
    assert all(module.startswith("racecourse.scenarios.") for module in shipped_modules)


def test_the_builders_load_without_the_networking_code():
    """Share takes its remote Manager through a hook: making shared state for a run (and for
    every spawned child, which imports the builders) loads no server, address or authkey code."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, racecourse.sharing; print(sorted(m for m in sys.modules if "
         "m.startswith('racecourse')))"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "racecourse.sharing" in loaded
    assert "racecourse.remote" not in loaded
