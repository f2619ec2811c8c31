"""Reading a sweep spec: the YAML file, its space file (next to it or shipped with the package),
``--set key.path=value`` overrides and the command line's sweep flags, then validation."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from weightsearch.config.errors import format_validation_error, model_at
from weightsearch.config.kinds import BRANCHES
from weightsearch.config.spec import SweepSpec
from weightsearch.config.yaml_io import dump_yaml, read_yaml_mapping
from weightsearch.contracts import SWEEP_FLAGS
from weightsearch.errors import UserError

SHIPPED_SPACES = "weightsearch.search_spaces"
"""The package holding the shipped spaces and specs (the repository's ``search_spaces/`` folder)."""


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> SweepSpec:
    """Read a spec YAML, apply ``key.path=value`` overrides, inline its space file and validate.

    ``path`` may also name a shipped spec (``quickstart`` or ``quickstart.yaml``) when no such file exists.

    Raises:
        UserError: one line naming the file or field and the fix.
    """
    path = resolve_spec_file(Path(path))
    data = read_mapping(path, "spec file")
    if data and set(data) <= {"strategy", "parameters"}:
        raise UserError(
            f"spec file '{path}': this is a search space, not a sweep spec; write a spec with "
            f"`space: {path.name}` (see search_spaces/quickstart.yaml)"
        )
    spec_dir = Path(str(path)).resolve().parent
    for override in overrides:
        _apply_override(data, override, spec_dir)
    space_file = None
    if isinstance(data.get("space"), str):
        space_file = find_space_file(data["space"], spec_dir)
        data["space"] = read_mapping(space_file, "space file")
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as error:
        first_loc = error.errors()[0]["loc"]
        if space_file is not None and first_loc[:1] == ("space",):
            where = f"space file '{space_file}' field"
            raise UserError(
                format_validation_error(error, where, skip=1, root=SweepSpec, branches=BRANCHES)
            ) from None
        message = format_validation_error(error, "spec field", root=SweepSpec, branches=BRANCHES)
        if isinstance(data.get("objective"), dict):
            # The spec wrote one objective; name its field as written, not as the list it becomes.
            message = message.replace("'objective.0.", "'objective.", 1)
        raise UserError(message) from None


def shipped(name: str) -> Traversable:
    """The shipped space or spec file ``name`` (it may not exist)."""
    return resources.files(SHIPPED_SPACES) / name


def find_space_file(name: str, spec_dir: Path) -> Path | Traversable:
    """The space file ``name``: next to the spec, else shipped with weightsearch, else in the CWD."""
    candidates = [spec_dir / name, shipped(name), Path.cwd() / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise UserError(
        f"spec field 'space': space file {name!r} not found next to the spec ({spec_dir}), among the shipped "
        f"spaces ({', '.join(shipped_names())}) or in the current directory ({Path.cwd()}); "
        "fix the path or inline the space"
    )


def shipped_names() -> list[str]:
    """The file names of the shipped spaces and specs."""
    return sorted(entry.name for entry in resources.files(SHIPPED_SPACES).iterdir() if entry.name.endswith(".yaml"))


def overrides_from_args(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides of a command line, then its sweep flags (``--num-samples 8``) as overrides."""
    overrides = list(getattr(args, "overrides", None) or [])
    for flag in SWEEP_FLAGS:
        value = getattr(args, flag.attribute, None)
        if value is not None:
            # JSON is YAML, so a quoted string survives the YAML reading of the value unchanged.
            overrides.append(f"{flag.key}={json.dumps(value)}")
    return overrides


def spec_to_yaml(spec: SweepSpec) -> str:
    """The resolved spec as YAML (space inlined, every trial setting explicit); load_spec reads it back."""
    data = spec.model_dump(mode="json", by_alias=True)
    data["space"] = spec.space.to_mapping()
    if not spec.is_multi_objective:
        data["objective"] = data["objective"][0]
    return f"# Resolved sweep spec of {spec.name!r}, as weightsearch ran it.\n" + dump_yaml(data)


def resolve_spec_file(path: Path) -> Path | Traversable:
    """The spec file ``path``, or the shipped spec it names when no such file exists (``quickstart``, ``quickstart.yaml``)."""
    if path.exists() or len(path.parts) != 1:
        return path
    name = path.name if path.suffix == ".yaml" else f"{path.name}.yaml"
    candidate = shipped(name)
    return candidate if candidate.is_file() else path


def read_mapping(path: Path | Traversable, what: str) -> dict[str, Any]:
    """The YAML mapping in a file on disk or shipped in the package (see ``read_yaml_mapping``)."""
    if isinstance(path, Path):
        return read_yaml_mapping(path, what)
    with resources.as_file(path) as on_disk:
        return read_yaml_mapping(on_disk, what)


def _apply_override(data: dict[str, Any], override: str, spec_dir: Path) -> None:
    """Set one ``key.path=value`` (value read as YAML) in the raw spec, after checking the path exists."""
    key, separator, text = override.partition("=")
    if not separator or not key or any(not part for part in key.split(".")):
        raise UserError(f"--set {override!r}: write KEY=VALUE with a dotted key, e.g. --set trial.steps=300")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise UserError(
            f"--set {key}: value {text!r} is not valid YAML; quote strings with special characters"
        ) from None
    keys = key.split(".")
    _check_override_path(keys, override)
    if len(keys) == 2 and keys[0] in ("sampler", "pruner") and keys[1] == "name":
        section = data.get(keys[0])
        if isinstance(section, dict) and section.get("name") != value:
            # Another sampler or pruner takes other options: it starts from its own defaults (a later
            # --set sampler.options.X=... still applies); `none` has no calibration gate either.
            section.pop("options", None)
            if value == "none":
                section.pop("calibrate", None)
    node = data
    for index, part in enumerate(keys[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif keys[: index + 1] == ["space"] and isinstance(child, str):
            child = node[part] = read_mapping(find_space_file(child, spec_dir), "space file")
        elif not isinstance(child, dict):
            raise UserError(
                f"--set {key}: '{'.'.join(keys[:index + 1])}' holds a {type(child).__name__}, not a mapping; "
                "set it as a whole"
            )
        node = child
    node[keys[-1]] = value


def _check_override_path(keys: list[str], override: str) -> None:
    """Walk the spec's models along ``keys``; free-form mappings (options, the space's entries) end the check."""
    for index, key in enumerate(keys):
        model = model_at(SweepSpec, keys[:index], BRANCHES)
        if model is None:
            return
        if key not in model.model_fields:
            where = ".".join(keys[:index]) or "the spec"
            raise UserError(
                f"--set {override.split('=')[0]}: {where} has no field {key!r}; valid: {', '.join(model.model_fields)}"
            )
