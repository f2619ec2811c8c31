"""Validation of strategy and normalizer hyperparameters, so bad spec values fail with the field's name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real

from weightsearch.errors import UserError


def check_tasks(tasks: Sequence[str]) -> tuple[str, ...]:
    """Return the task names as a tuple after checking they are non-empty, unique strings."""
    if isinstance(tasks, str) or not tasks:
        raise UserError(f"tasks: expected a non-empty list of task names, got {tasks!r}")
    names = tuple(tasks)
    if not all(isinstance(name, str) and name for name in names):
        raise UserError(f"tasks: every task name must be a non-empty string, got {list(names)!r}")
    if len(set(names)) != len(names):
        raise UserError(f"tasks: task names must be unique, got {list(names)!r}")
    return names


def check_number(
    owner: str,
    parameter: str,
    value: object,
    *,
    minimum: float | None = None,
    positive: bool = False,
    maximum: float | None = None,
) -> float:
    """Return ``value`` as a float, or raise ``UserError`` naming ``owner``'s ``parameter`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, Real) or value != value:
        raise UserError(f"{owner}: parameter {parameter!r} must be a number, got {value!r}")
    number = float(value)
    if positive and number <= 0:
        raise UserError(f"{owner}: parameter {parameter!r} must be > 0, got {number}")
    if minimum is not None and number < minimum:
        raise UserError(f"{owner}: parameter {parameter!r} must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise UserError(f"{owner}: parameter {parameter!r} must be <= {maximum}, got {number}")
    return number


def check_count(owner: str, parameter: str, value: object) -> int:
    """Return ``value`` as a positive int, or raise ``UserError`` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{owner}: parameter {parameter!r} must be an integer >= 1, got {value!r}")
    return value


def check_mapping(owner: str, parameter: str, value: object) -> dict:
    """Return ``value`` (``None`` meaning empty) as a dict, or raise ``UserError`` naming the parameter."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UserError(f"{owner}: parameter {parameter!r} must be a mapping, got {value!r}")
    return dict(value)


def per_task_values(
    owner: str,
    parameter: str,
    values: Mapping[str, object] | None,
    tasks: Sequence[str],
    *,
    default: float,
    minimum: float | None = 0.0,
) -> tuple[float, ...]:
    """One float per task (in ``tasks`` order) from a ``{task: value}`` mapping; unlisted tasks get ``default``."""
    values = check_mapping(owner, parameter, values)
    unknown = sorted(set(values) - set(tasks))
    if unknown:
        raise UserError(
            f"{owner}: parameter {parameter!r} names unknown task(s) {unknown}; known tasks: {list(tasks)}"
        )
    return tuple(
        check_number(owner, f"{parameter}.{task}", values.get(task, default), minimum=minimum) for task in tasks
    )
