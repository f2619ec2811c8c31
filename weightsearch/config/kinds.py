"""The kinds of search-space parameters (float, int, choice, simplex, constant): each owns how it is
validated, suggested to Optuna, put at its extremes, listed for the grid sampler and described."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from typing_extensions import TypeAliasType

from weightsearch.config.errors import FieldError
from weightsearch.errors import UserError

# The uniform coordinate behind a simplex weight lives in [U_LOW, U_HIGH]: -log(u) is then finite
# and positive, so the weights' sum never vanishes; the truncated tails carry probability 1e-9.
U_LOW = 1e-9
U_HIGH = 1.0 - 1e-9

Scalar = Union[str, bool, int, float, None]


class Suggester(Protocol):
    """What a kind asks of an Optuna trial (``optuna.Trial``, or :class:`FixedValues` in checks)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = ..., step: float | None = ...) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = ..., step: int = ...) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


class FixedValues:
    """A :class:`Suggester` answering from fixed Optuna values, so checks see exactly what trials receive."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def _value(self, name: str) -> Any:
        if name not in self._values:
            raise ValueError(f"no fixed value for parameter {name!r}")
        return self._values[name]

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False, step: float | None = None) -> float:
        return float(self._value(name))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> int:
        return int(self._value(name))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._value(name)


class _Kind(BaseModel):
    """Shared behaviour of the sampled kinds; ``where`` is the YAML location used in error messages."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    def suggest(self, trial: Suggester, path: str, optuna_name: str) -> dict[str, Any]:
        """``{TrialConfig path: value}`` for one trial."""
        raise NotImplementedError

    def settings(self, optuna_name: str) -> list[dict[str, Any]]:
        """Optuna values putting the parameter at each end of its range (or at each choice)."""
        raise NotImplementedError

    def grid(self, where: str) -> list[Any] | None:
        """The finite values the grid sampler tries; UserError when there are none."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def paths(self, path: str) -> list[str]:
        """Every TrialConfig path the parameter sets."""
        return [path]


class _Range(_Kind):
    """A number between two bounds: put at each end of its range by the checks."""

    bounds: tuple[Any, Any]

    def settings(self, optuna_name: str) -> list[dict[str, Any]]:
        return [{optuna_name: bound} for bound in self.bounds]


class FloatRange(_Range):
    """``{float: [low, high], log: bool, step: s, grid: [...]}``: a float in ``[low, high]``."""

    bounds: tuple[float, float] = Field(alias="float")
    log: bool = False
    step: float | None = Field(None, gt=0)
    grid_values: list[float] | None = Field(None, alias="grid", min_length=1)

    @model_validator(mode="after")
    def _check(self) -> "FloatRange":
        low, high = self.bounds
        _check_bounds(low, high, self.log, self.step, "float")
        if self.step is not None and not _is_multiple(high - low, self.step):
            raise FieldError(("step",), f"high - low ({high - low:g}) must be a multiple of step ({self.step:g})")
        if self.grid_values is not None:
            outside = [value for value in self.grid_values if not low <= value <= high]
            if outside:
                raise FieldError(("grid",), f"grid values {outside} lie outside [{low:g}, {high:g}]")
        return self

    def suggest(self, trial: Suggester, path: str, optuna_name: str) -> dict[str, Any]:
        low, high = self.bounds
        return {path: trial.suggest_float(optuna_name, low, high, log=self.log, step=self.step)}

    def grid(self, where: str) -> list[Any] | None:
        if self.grid_values is not None:
            return list(self.grid_values)
        if self.step is not None:
            count = round((self.bounds[1] - self.bounds[0]) / self.step)
            return [self.bounds[0] + index * self.step for index in range(count + 1)]
        raise UserError(
            f"space field '{where}': the grid sampler needs finite values; "
            "add `grid: [...]` or `step:`, or use another sampler"
        )

    def describe(self) -> str:
        low, high = self.bounds
        extra = " log" if self.log else (f" step {self.step:g}" if self.step else "")
        return f"float [{low:g}, {high:g}]{extra}" + (f" grid {self.grid_values}" if self.grid_values else "")


class IntRange(_Range):
    """``{int: [low, high], log: bool, step: s}``: an integer in ``[low, high]``."""

    bounds: tuple[int, int] = Field(alias="int")
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check(self) -> "IntRange":
        low, high = self.bounds
        _check_bounds(low, high, self.log, None if self.step == 1 else self.step, "int")
        if (high - low) % self.step:
            raise FieldError(("step",), f"high - low ({high - low}) must be a multiple of step ({self.step})")
        return self

    def suggest(self, trial: Suggester, path: str, optuna_name: str) -> dict[str, Any]:
        low, high = self.bounds
        return {path: trial.suggest_int(optuna_name, low, high, log=self.log, step=self.step)}

    def grid(self, where: str) -> list[Any] | None:
        return list(range(self.bounds[0], self.bounds[1] + 1, self.step))

    def describe(self) -> str:
        low, high = self.bounds
        return f"int [{low}, {high}]" + (" log" if self.log else (f" step {self.step}" if self.step > 1 else ""))


class Choice(_Kind):
    """``{choice: [a, b, ...]}``: one of a few scalars."""

    choices: list[Scalar] = Field(alias="choice", min_length=1)

    @model_validator(mode="after")
    def _check(self) -> "Choice":
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise FieldError(("choice",), f"choices repeat a value: {self.choices}")
        return self

    def suggest(self, trial: Suggester, path: str, optuna_name: str) -> dict[str, Any]:
        return {path: trial.suggest_categorical(optuna_name, self.choices)}

    def settings(self, optuna_name: str) -> list[dict[str, Any]]:
        return [{optuna_name: choice} for choice in self.choices]

    def grid(self, where: str) -> list[Any] | None:
        return list(self.choices)

    def describe(self) -> str:
        return "choice " + ", ".join(map(str, self.choices))


class Simplex(_Kind):
    """``{simplex: [task, ...], total: t}``: weights ≥ 0 over the tasks that sum to ``t``."""

    tasks: list[str] = Field(alias="simplex", min_length=2)
    total: float | None = Field(None, gt=0, description="Sum of the weights; default: the number of tasks.")

    @model_validator(mode="after")
    def _check(self) -> "Simplex":
        if len(set(self.tasks)) != len(self.tasks):
            raise FieldError(("simplex",), f"tasks repeat a name: {self.tasks}")
        return self

    @property
    def weight_sum(self) -> float:
        return float(len(self.tasks)) if self.total is None else self.total

    def suggest(self, trial: Suggester, path: str, optuna_name: str) -> dict[str, Any]:
        """Its Optuna parameters are the uniform coordinates ``<name>.<task>:u``; it returns the weights."""
        coordinates = {task: trial.suggest_float(f"{optuna_name}.{task}:u", U_LOW, U_HIGH) for task in self.tasks}
        return {f"{path}.{task}": weight for task, weight in simplex_weights(coordinates, self.weight_sum).items()}

    def settings(self, optuna_name: str) -> list[dict[str, Any]]:
        return [{f"{optuna_name}.{task}:u": 0.5 for task in self.tasks}]  # the centre

    def grid(self, where: str) -> list[Any] | None:
        raise UserError(
            f"space field '{where}': a simplex cannot be grid-searched; "
            "use per-task `choice:` values or another sampler"
        )

    def describe(self) -> str:
        return f"simplex over {', '.join(self.tasks)} (sum {self.weight_sum:g})"

    def paths(self, path: str) -> list[str]:
        return [path, *(f"{path}.{task}" for task in self.tasks)]


@dataclass(frozen=True)
class Constant:
    """A plain value (scalar or list) in a space: set in every trial, never suggested."""

    value: Any

    def suggest(self, trial: Suggester, path: str, optuna_name: str) -> dict[str, Any]:
        return {path: self.value}

    def settings(self, optuna_name: str) -> list[dict[str, Any]]:
        return [{}]

    def grid(self, where: str) -> list[Any] | None:
        return None

    def describe(self) -> str:
        return f"= {self.value!r}"

    def paths(self, path: str) -> list[str]:
        return [path]


Sampled = Union[FloatRange, IntRange, Choice, Simplex]
KINDS: dict[str, type[_Kind]] = {"float": FloatRange, "int": IntRange, "choice": Choice, "simplex": Simplex}
BRANCHES: dict[str, type[BaseModel]] = {f"<{key}>": kind for key, kind in KINDS.items()}
"""The model behind each tagged-union tag of :data:`Node`, for error messages."""


def simplex_weights(coordinates: Mapping[str, float], total: float) -> dict[str, float]:
    """Weights uniform on the simplex ``{w ≥ 0, Σ w = total}`` from uniform coordinates ``u ∈ (0, 1)``.

    ``e_i = -log(u_i)`` are i.i.d. Exponential(1), and ``e / Σ e`` is Dirichlet(1, …, 1), the
    uniform distribution on the simplex (Devroye 1986, *Non-Uniform Random Variate Generation*).
    Every task is treated alike: ``w_i / total ~ Beta(1, n-1)``, so E[w_i] = total/n and
    Var[w_i] = total² (n-1) / (n² (n+1)). Drawing the weights one after another and giving the
    last task what is left does not: early tasks get more weight on average than later ones.
    """
    exponentials = {task: -math.log(u) for task, u in coordinates.items()}
    norm = sum(exponentials.values())
    return {task: total * value / norm for task, value in exponentials.items()}


def _node_kind(value: Any) -> str | None:
    """Pydantic tag of a space node: a parameter kind by its key, a group, or a constant."""
    if isinstance(value, BaseModel):
        return next(tag for tag, kind in BRANCHES.items() if isinstance(value, kind))
    if isinstance(value, Mapping):
        keys = [key for key in KINDS if key in value]
        if len(keys) > 1:
            return None
        return f"<{keys[0]}>" if keys else "<group>"
    return "<constant>"


Node = TypeAliasType(
    "Node",
    Annotated[
        Union[
            Annotated[FloatRange, Tag("<float>")],
            Annotated[IntRange, Tag("<int>")],
            Annotated[Choice, Tag("<choice>")],
            Annotated[Simplex, Tag("<simplex>")],
            Annotated[dict[str, "Node"], Tag("<group>")],
            Annotated[Union[Scalar, list[Any]], Tag("<constant>")],
        ],
        Discriminator(
            _node_kind,
            custom_error_type="parameter_kind",
            custom_error_message="a parameter has exactly one of the keys float, int, choice, simplex",
        ),
    ],
)


def _check_bounds(low: float, high: float, log: bool, step: float | None, kind: str) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise FieldError((kind,), f"bounds must be finite numbers (got [{low:g}, {high:g}]); write finite low and high")
    if low >= high:
        fix = "swap them" if low > high else "use a constant value instead"
        raise FieldError((kind,), f"low ({low:g}) must be < high ({high:g}); {fix}")
    if log and low <= 0:
        raise FieldError((kind,), f"a log range must be positive (low is {low:g}); raise low or drop log")
    if log and step is not None:
        raise FieldError(("step",), "log and step cannot be combined (Optuna samples a log range continuously)")


def _is_multiple(span: float, step: float) -> bool:
    ratio = span / step
    return abs(ratio - round(ratio)) < 1e-9 * max(1.0, ratio)
