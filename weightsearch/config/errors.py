"""Validation failures of the configuration layer, and their one-line messages for users."""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError


class FieldError(ValueError):
    """A validation failure at ``path`` below the model being validated (pydantic keeps it in ``ctx``)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


_PYDANTIC_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "greater_than": lambda ctx: f"must be > {ctx['gt']}",
    "greater_than_equal": lambda ctx: f"must be >= {ctx['ge']}",
    "less_than": lambda ctx: f"must be < {ctx['lt']}",
    "less_than_equal": lambda ctx: f"must be <= {ctx['le']}",
    "literal_error": lambda ctx: f"must be one of {ctx['expected']}",
    "string_pattern_mismatch": lambda ctx: f"must match {ctx['pattern']}",
    "missing": lambda ctx: "is required",
    "too_short": lambda ctx: f"needs at least {ctx['min_length']} item(s)",
}


def format_validation_error(
    error: ValidationError,
    where: str,
    *,
    skip: int = 0,
    prefix: Sequence[str] = (),
    root: type | None = None,
    branches: Mapping[str, type[BaseModel]] | None = None,
) -> str:
    """One line for the first pydantic error: ``<where> '<field.path>': <problem and fix> (got …)``.

    ``skip`` drops leading location parts (a spec's ``space`` when the space came from its own file),
    ``prefix`` adds some (a section validated on its own); ``root`` is the validated model, to list
    the valid keys next to an unknown one, and ``branches`` the models behind tagged-union tags.
    """
    errors = error.errors()
    first = errors[0]
    ctx = first.get("ctx") or {}
    cause = ctx.get("error")
    # Tagged-union parts ("<float>") say which parameter kind pydantic tried; the user wrote none of them.
    loc = [*prefix, *(str(part) for part in first["loc"][skip:] if not str(part).startswith("<"))]
    if isinstance(cause, FieldError):
        loc += [str(part) for part in cause.path]
        message = cause.message
    elif first["type"] == "value_error" and cause is not None:
        message = str(cause)
    elif first["type"] == "extra_forbidden":
        model = model_at(root, first["loc"][:-1], branches)
        valid = [field.alias or name for name, field in model.model_fields.items()] if model else []
        message = "unknown field" + (f"; valid: {', '.join(valid)}" if valid else "")
    elif first["type"] in _PYDANTIC_MESSAGES:
        message = _PYDANTIC_MESSAGES[first["type"]](ctx)
    else:
        message = first["msg"][0].lower() + first["msg"][1:]
    value = first.get("input")
    if first["type"] not in ("missing", "value_error", "extra_forbidden") and not isinstance(cause, FieldError):
        if value is None or isinstance(value, (str, int, float, bool)):
            message += f" (got {value!r})"
    more = f" [and {len(errors) - 1} more problem(s)]" if len(errors) > 1 else ""
    if not loc:  # a check across fields (a model validator) has no single field to name
        return f"{message}{more}"
    return f"{where} '{'.'.join(loc)}': {message}{more}"


def model_at(
    root: type | None, loc: Sequence[Any], branches: Mapping[str, type[BaseModel]] | None = None
) -> type[BaseModel] | None:
    """The model that validates location ``loc`` below ``root``; None inside free mappings (options, groups).

    A tagged-union part of ``loc`` (``<float>``) continues in ``branches[tag]`` when given.
    """
    model: Any = root
    for part in loc:
        if str(part).startswith("<"):
            model = (branches or {}).get(str(part))  # a parameter kind, or a group/constant (None)
        elif isinstance(model, type) and issubclass(model, BaseModel):
            model = _model_of(model.model_fields[part].annotation) if part in model.model_fields else None
        else:
            model = None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _model_of(annotation: Any) -> Any:
    """The model class behind ``Model`` or ``Model | None``; other annotations (dicts, lists) as they are."""
    arguments = [argument for argument in typing.get_args(annotation) if argument is not type(None)]
    if len(arguments) == 1 and isinstance(arguments[0], type) and issubclass(arguments[0], BaseModel):
        return arguments[0]
    return annotation
