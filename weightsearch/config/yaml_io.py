"""Reading and writing the YAML files users write by hand (specs, spaces, trial configs), one error style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from weightsearch.errors import UserError


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """The mapping in a YAML file (empty file: empty mapping); UserError if missing, not YAML, or not a mapping."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise UserError(f"{what} '{path}': cannot read it ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise UserError(f"{what} '{path}': not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{what} '{path}'{line}: not valid YAML ({getattr(error, 'problem', error)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{what} '{path}': expected a YAML mapping at the top level, got {type(data).__name__}")
    return data


class _FlowListDumper(yaml.SafeDumper):
    """Writes lists inline (``float: [0.001, 0.01]``), as the spec files are written by hand."""


_FlowListDumper.add_representer(
    list, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)
)


def dump_yaml(data: Any) -> str:
    """``data`` as YAML in the hand-written style: keys in order, lists inline, unicode kept."""
    return yaml.dump(data, Dumper=_FlowListDumper, sort_keys=False, allow_unicode=True)
