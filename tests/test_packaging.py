"""The wheel carries every package and the shipped search spaces, and a spec names a shipped one by name
outside a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_the_listed_packages_are_the_packages_on_disk() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(path.parent.relative_to(REPO).parts) for path in (REPO / "weightsearch").rglob("__init__.py")
    }
    assert listed == on_disk | {"weightsearch.search_spaces"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("weightsearch-*.whl"))


def test_the_wheel_ships_the_search_spaces(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for space in (REPO / "search_spaces").glob("*.yaml"):
        assert f"weightsearch/search_spaces/{space.name}" in names
    assert "weightsearch/cli/__main__.py" in names and "weightsearch/config/kinds.py" in names


def test_a_shipped_spec_and_space_load_by_name_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = (
        "import weightsearch, yaml; from weightsearch.config import load_spec; "
        "spec = load_spec('quickstart', ['space=adaptive.yaml']); "
        "print(weightsearch.__file__); print(spec.name, spec.space.strategy_names())"
    )
    # From an empty directory with the wheel first on the path: nothing of the checkout is visible.
    environment = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    installed_at, loaded = result.stdout.splitlines()
    assert installed_at.startswith(str(target))
    assert loaded.startswith("quickstart ['uncertainty', 'gradnorm', 'dwa'")
