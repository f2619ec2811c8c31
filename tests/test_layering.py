"""The package's layers import downward only (read from the source with ast), and the lower layers
stay free of the orchestration libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "weightsearch"

# Bottom up; a unit may import its own layer and those below. See ARCHITECTURE.md.
LAYERS = [
    {"contracts", "errors", "redact", "stats", "pareto"},
    {"config"},
    {"losses", "weighting", "composite"},
    {"trial", "vla", "metaworld"},
    {"search", "tracking", "cluster"},
    {"cli"},
]
# Within a layer, these never import each other: tracking listens to search through its callback.
APART = [("search", "tracking"), ("tracking", "search"), ("search", "cluster"), ("tracking", "cluster")]
LOSS_CORE = {"losses", "weighting", "composite"}
ORCHESTRATION = {"ray", "optuna", "mlflow"}


def _imports() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per top-level unit: the other units it imports, and the third-party top-level packages."""
    internal: dict[str, set[str]] = defaultdict(set)
    external: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        unit = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if unit == "__init__":
            continue  # the package face re-exports lazily by name
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if parts[0] != "weightsearch":
                    external[unit].add(parts[0])
                elif len(parts) > 1 and parts[1] != unit:
                    internal[unit].add(parts[1])
    return internal, external


INTERNAL, EXTERNAL = _imports()
LAYER_OF = {unit: index for index, layer in enumerate(LAYERS) for unit in layer}


def test_every_unit_has_a_layer() -> None:
    units = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    units |= {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert units == set(LAYER_OF), "add the new unit to LAYERS (and to ARCHITECTURE.md)"


@pytest.mark.parametrize("unit", sorted(LAYER_OF))
def test_imports_go_down(unit: str) -> None:
    upward = sorted(other for other in INTERNAL[unit] if LAYER_OF[other] > LAYER_OF[unit])
    assert not upward, f"weightsearch.{unit} imports a layer above it: {upward}"
    apart = sorted(other for first, other in APART if first == unit and other in INTERNAL[unit])
    assert not apart, f"weightsearch.{unit} must not import {apart}"


def test_no_cycle_between_units() -> None:
    def visit(unit: str, path: list[str]) -> None:
        if unit in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(unit):], unit]))
        for other in INTERNAL[unit]:
            visit(other, [*path, unit])

    for unit in LAYER_OF:
        visit(unit, [])


@pytest.mark.parametrize("unit", sorted(LOSS_CORE))
def test_loss_core_is_plain_torch(unit: str) -> None:
    assert not EXTERNAL[unit] & (ORCHESTRATION | {"pydantic"})


def test_configuration_imports_pydantic_and_yaml_only() -> None:
    allowed = {"pydantic", "yaml", "typing_extensions"}
    stdlib = set(sys.stdlib_module_names)
    assert {module for module in EXTERNAL["config"] if module not in stdlib} <= allowed
    assert not EXTERNAL["contracts"] - stdlib


def test_reading_a_spec_imports_neither_torch_nor_optuna() -> None:
    code = (
        "import sys; from weightsearch.config import load_spec; load_spec('quickstart'); "
        "import weightsearch.cli; print(sorted(m for m in ('torch', 'optuna', 'ray', 'mlflow') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == "[]"
