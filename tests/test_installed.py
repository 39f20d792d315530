"""The package list in pyproject is complete, and tox tests what a user installs.

A subpackage missing from pyproject's explicit ``packages`` list once shipped a racecourse
without its command line. The first test reads the list and the source tree and finds
such a gap in any environment; the others run under tox (which sets
RACECOURSE_EXPECT_INSTALLED) and check that the racecourse under test is the wheel
installed in site-packages, holding every module of the source tree.
"""

from __future__ import annotations

import os
import pathlib
import sysconfig
from typing import Dict, List

import pytest

import racecourse

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
pytestmark = [pytest.mark.skipif(not PYPROJECT.exists(), reason="needs the source tree"),
              pytest.mark.start_method_independent]

installed_only = pytest.mark.skipif(
    not os.environ.get("RACECOURSE_EXPECT_INSTALLED"),
    reason="tox sets RACECOURSE_EXPECT_INSTALLED: racecourse must come from its wheel",
)


def _setuptools_config() -> Dict[str, object]:
    try:
        import tomllib
    except ImportError:  # before 3.11
        tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml needs Python 3.11+ or tomli")
    with PYPROJECT.open("rb") as file:
        return dict(tomllib.load(file)["tool"]["setuptools"])


def _package_directories(package_dir: Dict[str, str], tree: pathlib.Path = ROOT) -> Dict[str, pathlib.Path]:
    """Every directory holding Python modules, by the package name it installs as.

    ``package_dir`` is pyproject's mapping (``"" -> src``, ``racecourse.scenarios ->
    scenarios``); a directory takes the name of the most specific mapping it lies under.
    """
    roots = sorted(((name, tree / path) for name, path in package_dir.items()), key=lambda item: len(item[0]))
    found: Dict[str, pathlib.Path] = {}
    for prefix, root in roots:
        for module in root.rglob("*.py"):
            directory = module.parent
            if "__pycache__" in directory.parts or directory == root and not prefix:
                continue  # a module directly in src/ would be a top-level module, not a package
            parts = directory.relative_to(root).parts
            found[".".join(p for p in (prefix, *parts) if p)] = directory
    return found


def test_every_package_directory_is_listed_in_pyproject() -> None:
    config = _setuptools_config()
    package_dir = dict(config["package-dir"])  # type: ignore[call-overload]
    listed = set(config["packages"])  # type: ignore[call-overload]
    on_disk = _package_directories(package_dir)
    assert "racecourse.cli" in on_disk and "racecourse.scenarios" in on_disk  # the walk sees them
    missing = sorted(set(on_disk) - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    stale = sorted(listed - set(on_disk))
    assert not stale, f"listed in pyproject.toml but no such directory: {stale}"


def test_the_walk_names_a_new_subpackage(tmp_path: pathlib.Path) -> None:
    """The walk sees a subdirectory nobody listed yet, under either mapping (so the check can fail)."""
    for relative in ("src/racecourse/cli", "src/racecourse/newpkg", "scenarios", "scenarios/advanced", "scenarios/__pycache__"):
        (tmp_path / relative).mkdir(parents=True)
        (tmp_path / relative / "module.py").write_text("")
    (tmp_path / "src" / "top_level_module.py").write_text("")
    found = _package_directories({"": "src", "racecourse.scenarios": "scenarios"}, tmp_path)
    assert sorted(found) == [
        "racecourse.cli",
        "racecourse.newpkg",
        "racecourse.scenarios",
        "racecourse.scenarios.advanced",
    ]


@installed_only
def test_racecourse_under_test_is_the_installed_wheel() -> None:
    location = pathlib.Path(racecourse.__file__).resolve().parent
    site_packages = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
    assert location.parent == site_packages, f"racecourse imported from {location}, not from {site_packages}"
    assert not {ROOT / "src", ROOT / "scenarios"} & set(location.parents), "tests must not import the source tree"
    assert not list(site_packages.glob("__editable__*racecourse*")), "an editable install, not the wheel"


@installed_only
def test_installed_package_holds_every_module_of_the_source_tree() -> None:
    installed = pathlib.Path(racecourse.__file__).resolve().parent
    config = _setuptools_config()
    missing: List[str] = []
    for name, directory in _package_directories(dict(config["package-dir"])).items():  # type: ignore[call-overload]
        target = installed.joinpath(*name.split(".")[1:])
        missing += [f"{name}.{m.stem}" for m in directory.glob("*.py") if not (target / m.name).is_file()]
    assert not missing, f"not in the installed wheel: {missing}"
    assert (installed / "py.typed").is_file()
