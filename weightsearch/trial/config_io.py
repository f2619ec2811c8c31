"""Reading a trial config YAML into a validated :class:`TrialConfig`, with one-line errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
import yaml

from weightsearch.errors import UserError
from weightsearch.trial.config import TrialConfig


def load_trial_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> TrialConfig:
    """Load ``path`` (YAML mapping), apply top-level ``overrides`` (e.g. the CLI's ``--steps``), validate."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise UserError(f"trial config {str(path)!r}: cannot read it ({error.strerror})") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise UserError(f"trial config {str(path)!r}:{line} is not valid YAML; fix the syntax") from error
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"trial config {str(path)!r}: expected a mapping of fields, got {type(data).__name__}")
    return trial_config_from_dict({**data, **(overrides or {})})


def trial_config_from_dict(data: Mapping[str, Any]) -> TrialConfig:
    """Validate ``data`` as a :class:`TrialConfig`; a pydantic error becomes one ``UserError`` line per field."""
    try:
        return TrialConfig.model_validate(dict(data))
    except pydantic.ValidationError as error:
        raise UserError("; ".join(_describe(detail) for detail in error.errors())) from None


def _describe(detail: Mapping[str, Any]) -> str:
    """``trial config field 'lr': Input should be greater than 0`` for one pydantic error entry."""
    message = str(detail["msg"]).removeprefix("Value error, ")
    if detail["type"] == "extra_forbidden":
        message += f"; remove it (valid fields: {', '.join(TrialConfig.model_fields)})"
    location = ".".join(str(part) for part in detail["loc"])
    if not location:
        return f"trial config: {message}"
    return f"trial config field {location!r}: {message}"
