"""Search spaces: which `TrialConfig` values a sweep samples, and how they become Optuna suggestions.

A space is a YAML mapping with two optional sections::

    strategy:                     # conditional: Optuna first picks a strategy, then only its parameters
      fixed:
        weights: {simplex: [action, action_token, align, recon_patch, recon_token], total: 5}
      uncertainty:                # a strategy with no sampled parameters
      gradnorm:
        alpha: {float: [0.5, 2.0]}
        lr: {float: [1.0e-3, 1.0e-1], log: true}
      dwa:
        temperature: {float: [1.0, 4.0]}
        window: {int: [20, 100], step: 10}
    parameters:                   # unconditional: sampled for every trial
      normalization: {choice: [none, initial, ema]}
      lr: {float: [1.0e-3, 1.0e-2], log: true}
      options.caption_ratio: {float: [0.25, 0.75]}

A parameter is one of:

- ``{float: [low, high]}`` with optional ``log: true`` or ``step: s`` (not both), and ``grid: [...]``:
  the values the grid sampler tries (other samplers ignore it);
- ``{int: [low, high]}`` with optional ``log: true`` or ``step: s``;
- ``{choice: [a, b, ...]}``: a categorical over scalars (strings, numbers, booleans, null);
- ``{simplex: [task, ...], total: t}``: per-task weights that sum to ``t`` (default: the number of
  tasks, so the mean weight is 1), sampled uniformly on the simplex (see :func:`simplex_weights`);
- a plain value (scalar or list): a constant, set in every trial;
- any other mapping: a group, whose keys extend the path — so per-task λ are a mapping of tasks,
  e.g. ``weights: {action: {float: [0.1, 10], log: true}, align: 1.0}``.

Names are dotted paths into :class:`~weightsearch.trial.config.TrialConfig` (``lr``,
``options.caption_ratio``); under ``strategy.<name>`` they are constructor arguments of that
strategy and land in ``strategy_params`` (``weights.align`` → ``strategy_params.weights.align``).
Task names (simplex tasks, keys of per-task λ) are checked against the model's tasks when the sweep
is validated (``weightsearch validate``).

Optuna parameter names. Unconditional parameters keep their path. Strategy parameters are
prefixed by the strategy (``gradnorm:strategy_params.lr``) so that two strategies sharing an
argument name never share an Optuna parameter: Optuna's samplers model each name with one
distribution, and pooling, say, GradNorm's and FAMO's learning rates would mix observations that
mean different things. The dict that :meth:`SearchSpace.sample` returns (and that MLflow logs)
uses the plain ``TrialConfig`` paths. A simplex's uniform coordinates are Optuna parameters named
``<weight>:u``; the weights derived from them are in the returned dict.

When the space samples ``strategy``, the base trial's ``strategy_params`` are kept only for the
trial whose strategy equals the base's; any other strategy starts from no arguments.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union

import optuna
import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator
from typing_extensions import TypeAliasType

from weightsearch.errors import UserError
from weightsearch.trial.config import TrialConfig

# The uniform coordinate behind a simplex weight lives in [U_LOW, U_HIGH]: -log(u) is then finite
# and positive, so the weights' sum never vanishes; the truncated tails carry probability 1e-9.
U_LOW = 1e-9
U_HIGH = 1.0 - 1e-9

Scalar = Union[str, bool, int, float, None]


class FieldError(ValueError):
    """A validation failure at ``path`` below the model being validated (pydantic keeps it in ``ctx``)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class FloatRange(BaseModel):
    """``{float: [low, high], log: bool, step: s, grid: [...]}``: a float in ``[low, high]``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    bounds: tuple[float, float] = Field(alias="float")
    log: bool = False
    step: float | None = Field(None, gt=0)
    grid: list[float] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _check(self) -> "FloatRange":
        low, high = self.bounds
        _check_bounds(low, high, self.log, self.step, "float")
        if self.step is not None and not _is_multiple(high - low, self.step):
            raise FieldError(("step",), f"high - low ({high - low:g}) must be a multiple of step ({self.step:g})")
        if self.grid is not None:
            outside = [value for value in self.grid if not low <= value <= high]
            if outside:
                raise FieldError(("grid",), f"grid values {outside} lie outside [{low:g}, {high:g}]")
        return self


class IntRange(BaseModel):
    """``{int: [low, high], log: bool, step: s}``: an integer in ``[low, high]``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

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


class Choice(BaseModel):
    """``{choice: [a, b, ...]}``: one of a few scalars."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    choices: list[Scalar] = Field(alias="choice", min_length=1)

    @model_validator(mode="after")
    def _check(self) -> "Choice":
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise FieldError(("choice",), f"choices repeat a value: {self.choices}")
        return self


class Simplex(BaseModel):
    """``{simplex: [task, ...], total: t}``: weights ≥ 0 over the tasks that sum to ``t``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

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


Sampled = Union[FloatRange, IntRange, Choice, Simplex]
_KINDS = {"float": FloatRange, "int": IntRange, "choice": Choice, "simplex": Simplex}


def _node_kind(value: Any) -> str | None:
    """Pydantic tag of a space node: a parameter kind by its key, a group, or a constant."""
    if isinstance(value, BaseModel):
        return next(f"<{key}>" for key, kind in _KINDS.items() if isinstance(value, kind))
    if isinstance(value, Mapping):
        keys = [key for key in _KINDS if key in value]
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


@dataclass(frozen=True)
class Leaf:
    """One parameter of the space: its TrialConfig path, its Optuna name, and where the YAML defines it."""

    path: str
    optuna_name: str
    where: tuple[str, ...]
    node: Any  # a Sampled kind or a constant value


class SearchSpace(BaseModel):
    """A conditional search space over weighting strategies, their arguments and other TrialConfig values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: dict[str, dict[str, Node] | None] | None = Field(
        None, description="Strategy name -> its sampled constructor arguments (conditional)."
    )
    parameters: dict[str, Node] = Field(default_factory=dict, description="TrialConfig path -> parameter.")

    @model_validator(mode="after")
    def _check(self) -> "SearchSpace":
        if self.strategy is not None:
            if not self.strategy:
                raise FieldError(("strategy",), "name at least one strategy, or remove the section")
            for name, arguments in self.strategy.items():
                _check_strategy(name, arguments or {})
        for leaf in self._parameter_leaves():
            _check_config_path(leaf, conditional_strategy=self.strategy is not None)
        for strategy in self.strategy_names() or [None]:
            _check_distinct_paths(self.leaves(strategy))
        return self

    def strategy_names(self) -> list[str]:
        """The strategies the space chooses among (empty when it leaves the base trial's strategy)."""
        return list(self.strategy or {})

    def leaves(self, strategy: str | None = None) -> list[Leaf]:
        """The parameters of a trial that runs ``strategy`` (its own, then the unconditional ones)."""
        own = self._strategy_leaves(strategy) if strategy is not None else []
        return own + self._parameter_leaves()

    def _strategy_leaves(self, strategy: str) -> list[Leaf]:
        arguments = (self.strategy or {})[strategy] or {}
        return [
            Leaf(f"strategy_params.{path}", f"{strategy}:strategy_params.{path}", ("strategy", strategy, *where), node)
            for path, where, node in _flatten(arguments)
        ]

    def _parameter_leaves(self) -> list[Leaf]:
        return [Leaf(path, path, ("parameters", *where), node) for path, where, node in _flatten(self.parameters)]

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Suggest one configuration define-by-run: ``{TrialConfig path: value}``, simplex weights included.

        Only the chosen strategy's parameters are suggested. A simplex's Optuna parameters are
        its uniform coordinates (``<path>.<task>:u``); the dict holds the weights derived from them.
        """
        params: dict[str, Any] = {}
        strategy = None
        if self.strategy is not None:
            strategy = trial.suggest_categorical("strategy", self.strategy_names())
            params["strategy"] = strategy
        for leaf in self.leaves(strategy):
            params.update(_suggest(trial, leaf))
        return params

    def resolve(self, base: TrialConfig, params: Mapping[str, Any]) -> TrialConfig:
        """Deep-merge sampled ``params`` (dotted paths) into ``base``; raise UserError if the result is invalid."""
        data = base.model_dump()
        if "strategy" in params and params["strategy"] != base.strategy:
            data["strategy_params"] = {}
        for path, value in params.items():
            _set_path(data, path.split("."), value)
        try:
            return TrialConfig.model_validate(data)
        except ValidationError as error:
            problem = format_validation_error(error, "field", root=TrialConfig)
            raise UserError(f"sampled values {dict(params)} give an invalid trial config: {problem}") from None

    def grid_search_space(self) -> dict[str, list[Any]]:
        """Optuna name -> values for the grid sampler; UserError if a parameter has no finite grid.

        Optuna's grid is the product over every strategy's parameters, so a trial of one strategy
        also draws (and ignores) values for the others: conditional grids repeat configurations.
        """
        grid: dict[str, list[Any]] = {}
        if self.strategy is not None:
            grid["strategy"] = self.strategy_names()
        leaves = [leaf for strategy in self.strategy_names() for leaf in self._strategy_leaves(strategy)]
        for leaf in leaves + self._parameter_leaves():
            values = _grid_values(leaf)
            if values is not None:
                grid[leaf.optuna_name] = values
        return grid

    def examples(self) -> list[dict[str, Any]]:
        """A few configurations spanning the space (per strategy: the low and high corner, every choice).

        They go through :meth:`sample` with an ``optuna.trial.FixedTrial``, so validation checks
        exactly what trials will receive.
        """
        examples = []
        for strategy in self.strategy_names() or [None]:
            leaves = self.leaves(strategy)
            low = _merged(_settings(leaf)[0] for leaf in leaves)
            corners = [low, _merged(_settings(leaf)[-1] for leaf in leaves)]
            choices = [leaf for leaf in leaves if isinstance(leaf.node, Choice)]
            corners += [low | setting for leaf in choices for setting in _settings(leaf)[1:-1]]
            examples += [self._sample_fixed(strategy, values) for values in corners]
        return examples

    def check_against(self, base: TrialConfig) -> None:
        """Raise FieldError at the first parameter that, at an end of its range or a choice, makes ``base`` invalid."""
        for strategy in self.strategy_names() or [None]:
            leaves = self.leaves(strategy)
            low = _merged(_settings(leaf)[0] for leaf in leaves)
            for leaf in leaves:
                for setting in _settings(leaf):
                    sampled = self._sample_fixed(strategy, low | setting)
                    # Only this parameter's values, so that an error is charged to the parameter that caused it.
                    own = {path: value for path, value in sampled.items() if _within(path, leaf.path)}
                    if strategy is not None:
                        own["strategy"] = strategy
                    try:
                        self.resolve(base, own)
                    except UserError as error:
                        raise FieldError(leaf.where, str(error)) from None

    def _sample_fixed(self, strategy: str | None, values: dict[str, Any]) -> dict[str, Any]:
        """:meth:`sample` with fixed Optuna values (``values``: Optuna name -> value)."""
        return self.sample(optuna.trial.FixedTrial(values if strategy is None else {**values, "strategy": strategy}))

    def describe(self) -> list[str]:
        """Human-readable lines: the parameters per strategy, then the unconditional ones."""
        lines = []
        for strategy in self.strategy_names():
            own = self._strategy_leaves(strategy)
            lines.append(f"strategy {strategy}:" + ("" if own else " (no sampled arguments)"))
            lines += [f"  {leaf.path}: {_describe(leaf.node)}" for leaf in own]
        shared = self._parameter_leaves()
        if shared:
            lines.append("every trial:" if self.strategy else "parameters:")
            lines += [f"  {leaf.path}: {_describe(leaf.node)}" for leaf in shared]
        return lines

    def to_mapping(self) -> dict[str, Any]:
        """The space in its YAML syntax (what :func:`load_space` reads back)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


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


def load_space(source: str | Path | Mapping[str, Any]) -> SearchSpace:
    """A validated SearchSpace from a YAML file or a mapping; UserError names the field and the fix."""
    if isinstance(source, Mapping):
        data, where = source, "space field"
    else:
        path = Path(source)
        data, where = read_yaml_mapping(path, "space file"), f"space file '{path}' field"
    try:
        return SearchSpace.model_validate(data)
    except ValidationError as error:
        raise UserError(format_validation_error(error, where, root=SearchSpace)) from None


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """The mapping in a YAML file; UserError if it is missing, not YAML, or not a mapping."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise UserError(f"{what} '{path}': cannot read it ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{what} '{path}'{line}: not valid YAML ({getattr(error, 'problem', error)})") from None
    if not isinstance(data, dict):
        raise UserError(f"{what} '{path}': expected a YAML mapping at the top level, got {type(data).__name__}")
    return data


_PYDANTIC_MESSAGES = {
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
    error: ValidationError, where: str, *, skip: int = 0, prefix: Sequence[str] = (), root: type | None = None
) -> str:
    """One line for the first pydantic error: ``<where> '<field.path>': <problem and fix> (got …)``.

    ``skip`` drops leading location parts (a spec's ``space`` when the space came from its own file),
    ``prefix`` adds some (a section validated on its own); ``root`` is the validated model, to list
    the valid keys next to an unknown one.
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
        model = model_at(root, first["loc"][:-1])
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


def model_at(root: type | None, loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model that validates location ``loc`` below ``root``; None inside free mappings (options, groups)."""
    model: Any = root
    for part in loc:
        kind = str(part).strip("<>")
        if str(part).startswith("<"):
            model = _KINDS.get(kind)  # a tagged-union branch: a parameter kind, or a group/constant
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


def _check_bounds(low: float, high: float, log: bool, step: float | None, kind: str) -> None:
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


def _within(path: str, ancestor: str) -> bool:
    """Whether dotted ``path`` is ``ancestor`` or lies below it."""
    return path == ancestor or path.startswith(f"{ancestor}.")


def _flatten(
    nodes: Mapping[str, Any], prefix: str = "", where: tuple[str, ...] = ()
) -> Iterator[tuple[str, tuple[str, ...], Any]]:
    """(dotted path, YAML location, parameter or constant) for every leaf below ``nodes``."""
    for key, node in nodes.items():
        path = f"{prefix}{key}"
        if isinstance(node, dict):
            yield from _flatten(node, f"{path}.", (*where, key))
        else:
            yield path, (*where, key), node


def _check_strategy(name: str, arguments: Mapping[str, Any]) -> None:
    """The strategy exists in the registry and takes every argument the space gives it."""
    from weightsearch.weighting import STRATEGIES

    if name not in STRATEGIES:
        raise FieldError(("strategy", name), f"unknown strategy; use one of: {', '.join(sorted(STRATEGIES))}")
    accepted = _constructor_arguments(STRATEGIES[name])
    for argument in arguments:
        if argument.split(".")[0] not in accepted:
            raise FieldError(
                ("strategy", name, argument),
                f"{name} takes no argument {argument.split('.')[0]!r}; "
                f"it takes: {', '.join(sorted(accepted)) or 'nothing'}",
            )


def _constructor_arguments(strategy_class: type) -> set[str]:
    """Keyword-only constructor arguments: those ``make_strategy`` passes on (``tasks`` comes from the model)."""
    parameters = inspect.signature(strategy_class).parameters.values()
    return {parameter.name for parameter in parameters if parameter.kind is inspect.Parameter.KEYWORD_ONLY}


def _check_config_path(leaf: Leaf, *, conditional_strategy: bool) -> None:
    """An unconditional parameter names a TrialConfig field (or a key below a dict field)."""
    head, *rest = leaf.path.split(".")
    fields = TrialConfig.model_fields
    if head not in fields:
        raise FieldError(leaf.where, f"not a trial setting; use one of: {', '.join(fields)}")
    if rest and typing.get_origin(fields[head].annotation) is not dict:
        raise FieldError(leaf.where, f"{head!r} is a single value, it has no sub-field {'.'.join(rest)!r}")
    if head == "strategy":
        raise FieldError(leaf.where, "sample strategies in the `strategy:` section (strategy name -> arguments)")
    if head == "strategy_params" and conditional_strategy:
        raise FieldError(leaf.where, "with a `strategy:` section, put strategy arguments under strategy.<name>")


def _check_distinct_paths(leaves: list[Leaf]) -> None:
    """No two parameters of one trial set the same path, or a path and a key inside it."""
    seen: dict[str, Leaf] = {}
    for leaf in leaves:
        paths = [f"{leaf.path}.{task}" for task in leaf.node.tasks] if isinstance(leaf.node, Simplex) else []
        for path in [leaf.path, *paths]:
            for other_path, other in seen.items():
                if other is not leaf and (_within(path, other_path) or _within(other_path, path)):
                    raise FieldError(leaf.where, f"{path!r} is set twice (also by {'.'.join(other.where)}); keep one")
            seen[path] = leaf


def _suggest(trial: optuna.Trial, leaf: Leaf) -> dict[str, Any]:
    node = leaf.node
    if isinstance(node, FloatRange):
        low, high = node.bounds
        return {leaf.path: trial.suggest_float(leaf.optuna_name, low, high, log=node.log, step=node.step)}
    if isinstance(node, IntRange):
        low, high = node.bounds
        return {leaf.path: trial.suggest_int(leaf.optuna_name, low, high, log=node.log, step=node.step)}
    if isinstance(node, Choice):
        return {leaf.path: trial.suggest_categorical(leaf.optuna_name, node.choices)}
    if isinstance(node, Simplex):
        coordinates = {task: trial.suggest_float(f"{leaf.optuna_name}.{task}:u", U_LOW, U_HIGH) for task in node.tasks}
        return {f"{leaf.path}.{task}": weight for task, weight in simplex_weights(coordinates, node.weight_sum).items()}
    return {leaf.path: node}


def _settings(leaf: Leaf) -> list[dict[str, Any]]:
    """Optuna values putting ``leaf`` at each end of its range, at each choice, or at its simplex's centre."""
    node = leaf.node
    if isinstance(node, (FloatRange, IntRange)):
        return [{leaf.optuna_name: bound} for bound in node.bounds]
    if isinstance(node, Choice):
        return [{leaf.optuna_name: choice} for choice in node.choices]
    if isinstance(node, Simplex):
        return [{f"{leaf.optuna_name}.{task}:u": 0.5 for task in node.tasks}]
    return [{}]


def _merged(settings: Iterable[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for setting in settings:
        merged.update(setting)
    return merged


def _grid_values(leaf: Leaf) -> list[Any] | None:
    """The finite values of a leaf for the grid sampler, None for a constant; UserError if it has none."""
    node = leaf.node
    if isinstance(node, Choice):
        return list(node.choices)
    if isinstance(node, IntRange):
        return list(range(node.bounds[0], node.bounds[1] + 1, node.step))
    if isinstance(node, FloatRange):
        if node.grid is not None:
            return list(node.grid)
        if node.step is not None:
            count = round((node.bounds[1] - node.bounds[0]) / node.step)
            return [node.bounds[0] + index * node.step for index in range(count + 1)]
        raise UserError(
            f"space field '{'.'.join(leaf.where)}': the grid sampler needs finite values; "
            "add `grid: [...]` or `step:`, or use another sampler"
        )
    if isinstance(node, Simplex):
        raise UserError(
            f"space field '{'.'.join(leaf.where)}': a simplex cannot be grid-searched; "
            "use per-task `choice:` values or another sampler"
        )
    return None


def _describe(node: Any) -> str:
    if isinstance(node, FloatRange):
        low, high = node.bounds
        extra = " log" if node.log else (f" step {node.step:g}" if node.step else "")
        return f"float [{low:g}, {high:g}]{extra}" + (f" grid {node.grid}" if node.grid else "")
    if isinstance(node, IntRange):
        low, high = node.bounds
        return f"int [{low}, {high}]" + (" log" if node.log else (f" step {node.step}" if node.step > 1 else ""))
    if isinstance(node, Choice):
        return "choice " + ", ".join(map(str, node.choices))
    if isinstance(node, Simplex):
        return f"simplex over {', '.join(node.tasks)} (sum {node.weight_sum:g})"
    return f"= {node!r}"


def _set_path(data: dict[str, Any], keys: list[str], value: Any) -> None:
    """Set ``data[k0][k1]…= value``, creating (or replacing non-mapping) intermediate levels."""
    for key in keys[:-1]:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    data[keys[-1]] = value
