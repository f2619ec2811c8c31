"""The image recipe, read statically (no Docker engine here): its inputs exist, its versions are pinned and agree."""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER = REPO_ROOT / "deploy" / "docker"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split()[0].upper(), line.partition(" ")[2].strip()) for line in lines if line and not line.startswith("#")]


def build_args() -> dict[str, str]:
    return dict(arguments.split("=", 1) for instruction, arguments in instructions() if instruction == "ARG")


def lock() -> dict[str, str]:
    pins = {}
    for line in (DOCKER / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, separator, version = line.partition("==")
            assert separator and version.strip(), f"not pinned: {line!r}"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_every_copy_source_exists_in_the_build_context_and_passes_the_dockerignore():
    patterns = [line for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    sources = []
    for instruction, arguments in instructions():
        if instruction == "COPY":
            words = [word for word in shlex.split(arguments) if not word.startswith("--")]
            sources += words[:-1]
    assert {"weightsearch", "search_spaces", "pyproject.toml", "deploy/docker/requirements.lock"} <= set(sources)
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repository"
        included = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            bare = pattern.lstrip("!")
            if fnmatch.fnmatch(source, bare) or fnmatch.fnmatch(source + "/x", bare):
                included = negated
        assert included, f"COPY {source}: excluded by Dockerfile.dockerignore"


def test_the_base_image_is_pinned_and_the_cpu_variant_is_a_build_argument():
    arguments = build_args()
    froms = [arguments for instruction, arguments in instructions() if instruction == "FROM"]
    assert froms == ["${PYTHON_IMAGE}"]
    image, _, tag = arguments["PYTHON_IMAGE"].partition(":")
    assert image == "python" and tag.startswith("3.11") and tag != "latest"
    assert arguments["TORCH_INDEX_URL"].startswith("https://")
    assert "--build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in (DOCKER / "Dockerfile").read_text()
    torch_spec = next(
        Requirement(dependency) for dependency in pyproject_dependencies() if Requirement(dependency).name == "torch"
    )
    assert arguments["TORCH_VERSION"] in torch_spec.specifier


def pyproject_dependencies() -> list[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"].get("torchjd", [])]


def test_the_lock_pins_every_dependency_of_the_package_within_its_declared_range():
    pins = lock()
    assert "torch" not in pins, "torch comes from TORCH_INDEX_URL, not the lock"
    for dependency in pyproject_dependencies():
        requirement = Requirement(dependency)
        if requirement.name == "torch":
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not pinned in requirements.lock"
        assert pins[name] in requirement.specifier, f"{name}=={pins[name]} is outside {requirement.specifier}"


def test_the_lock_holds_what_cluster_nodes_need_beyond_the_package():
    pins = lock()
    # The dashboard and Jobs API (ray[default]) on the head, PostgreSQL for Optuna studies.
    for name in ("aiohttp-cors", "grpcio", "opencensus", "prometheus-client", "py-spy", "smart-open", "psycopg2-binary"):
        assert name in pins, name
    assert pins["ray"] == "2.60.0"
