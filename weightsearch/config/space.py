"""Search spaces: which `TrialConfig` values a sweep samples, and how they become Optuna suggestions.

A space is a YAML mapping with two optional sections::

    strategy:                     # conditional: Optuna first picks a strategy, then only its parameters
      fixed:
        weights: {simplex: [action, action_token, align, recon_patch, recon_token], total: 5}
      uncertainty:                # a strategy with no sampled parameters
      gradnorm:
        alpha: {float: [0.5, 2.0]}
        lr: {float: [1.0e-3, 1.0e-1], log: true}
      "my_pkg.my_mod:MyStrategy": # a user's own WeightingStrategy subclass, by import path
        beta: {float: [0.1, 1.0]}
    parameters:                   # unconditional: sampled for every trial
      normalization: {choice: [none, initial, ema]}
      lr: {float: [1.0e-3, 1.0e-2], log: true}
      options.caption_ratio: {float: [0.25, 0.75]}

A parameter is one of the kinds in :mod:`weightsearch.config.kinds`:

- ``{float: [low, high]}`` with optional ``log: true`` or ``step: s`` (not both), and ``grid: [...]``:
  the values the grid sampler tries (other samplers ignore it);
- ``{int: [low, high]}`` with optional ``log: true`` or ``step: s``;
- ``{choice: [a, b, ...]}``: a categorical over scalars (strings, numbers, booleans, null);
- ``{simplex: [task, ...], total: t}``: per-task weights that sum to ``t`` (default: the number of
  tasks, so the mean weight is 1), sampled uniformly on the simplex (see ``simplex_weights``);
- a plain value (scalar or list): a constant, set in every trial;
- any other mapping: a group, whose keys extend the path — so per-task λ are a mapping of tasks,
  e.g. ``weights: {action: {float: [0.1, 10], log: true}, align: 1.0}``.

Names are dotted paths into :class:`~weightsearch.config.trial.TrialConfig` (``lr``,
``options.caption_ratio``); under ``strategy.<name>`` they are constructor arguments of that
strategy and land in ``strategy_params`` (``weights.align`` → ``strategy_params.weights.align``).
Strategy names, their arguments and task names are checked against the weighting library and the
model before a sweep starts (``weightsearch validate``; ``weightsearch.search.checks``).

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

import re
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from weightsearch.config.errors import FieldError, format_validation_error
from weightsearch.config.kinds import BRANCHES, Constant, FixedValues, Node, Suggester
from weightsearch.config.trial import TrialConfig
from weightsearch.config.yaml_io import read_yaml_mapping
from weightsearch.errors import UserError

# A registered strategy name (``gradnorm``) or a user's class by import path (``my_pkg.my_mod:MyStrategy``).
_STRATEGY_NAME = re.compile(r"^[A-Za-z_][\w]*$|^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Leaf:
    """One parameter of the space: its TrialConfig path, its Optuna name, where the YAML defines it, its kind."""

    path: str
    optuna_name: str
    where: tuple[str, ...]
    node: Any  # a kind of weightsearch.config.kinds (Constant for a plain value)

    def suggest(self, trial: Suggester) -> dict[str, Any]:
        return self.node.suggest(trial, self.path, self.optuna_name)

    def settings(self) -> list[dict[str, Any]]:
        return self.node.settings(self.optuna_name)


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
            for name in self.strategy:
                if not _STRATEGY_NAME.match(name):
                    raise FieldError(
                        ("strategy", name),
                        "not a strategy name; write a registered name (gradnorm) or an import path (pkg.mod:Class)",
                    )
        for leaf in self._parameter_leaves():
            _check_config_path(leaf, conditional_strategy=self.strategy is not None)
        for strategy in self.strategy_names() or [None]:
            _check_distinct_paths(self.leaves(strategy))
        return self

    def strategy_names(self) -> list[str]:
        """The strategies the space chooses among (empty when it leaves the base trial's strategy)."""
        return list(self.strategy or {})

    def strategy_arguments(self, strategy: str) -> list[str]:
        """The constructor arguments the space gives ``strategy`` (top-level names)."""
        return list((self.strategy or {}).get(strategy) or {})

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

    def sample(self, trial: Suggester) -> dict[str, Any]:
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
            params.update(leaf.suggest(trial))
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
            values = leaf.node.grid(".".join(leaf.where))
            if values is not None:
                grid[leaf.optuna_name] = values
        return grid

    def examples(self) -> list[dict[str, Any]]:
        """A few configurations spanning the space (per strategy: the low and high corner, every choice).

        They go through :meth:`sample` with fixed values, so validation checks exactly what trials receive.
        """
        examples = []
        for strategy in self.strategy_names() or [None]:
            leaves = self.leaves(strategy)
            settings = [leaf.settings() for leaf in leaves]
            low = _merged(setting[0] for setting in settings)
            corners = [low, _merged(setting[-1] for setting in settings)]
            corners += [low | choice for setting in settings if len(setting) > 2 for choice in setting[1:-1]]
            examples += [self._sample_fixed(strategy, values) for values in corners]
        return examples

    def check_against(self, base: TrialConfig) -> None:
        """Raise FieldError at the first parameter that, at an end of its range or a choice, makes ``base`` invalid."""
        for strategy in self.strategy_names() or [None]:
            leaves = self.leaves(strategy)
            low = _merged(leaf.settings()[0] for leaf in leaves)
            for leaf in leaves:
                for setting in leaf.settings():
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
        return self.sample(FixedValues(values if strategy is None else {**values, "strategy": strategy}))

    def describe(self) -> list[str]:
        """Human-readable lines: the parameters per strategy, then the unconditional ones."""
        lines = []
        for strategy in self.strategy_names():
            own = self._strategy_leaves(strategy)
            lines.append(f"strategy {strategy}:" + ("" if own else " (no sampled arguments)"))
            lines += [f"  {leaf.path}: {leaf.node.describe()}" for leaf in own]
        shared = self._parameter_leaves()
        if shared:
            lines.append("every trial:" if self.strategy else "parameters:")
            lines += [f"  {leaf.path}: {leaf.node.describe()}" for leaf in shared]
        return lines

    def to_mapping(self) -> dict[str, Any]:
        """The space in its YAML syntax (what :func:`load_space` reads back)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


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
        raise UserError(format_validation_error(error, where, root=SearchSpace, branches=BRANCHES)) from None


def _within(path: str, ancestor: str) -> bool:
    """Whether dotted ``path`` is ``ancestor`` or lies below it."""
    return path == ancestor or path.startswith(f"{ancestor}.")


def _flatten(
    nodes: Mapping[str, Any], prefix: str = "", where: tuple[str, ...] = ()
) -> Iterator[tuple[str, tuple[str, ...], Any]]:
    """(dotted path, YAML location, kind) for every leaf below ``nodes``; plain values become Constants."""
    for key, node in nodes.items():
        path = f"{prefix}{key}"
        if isinstance(node, dict):
            yield from _flatten(node, f"{path}.", (*where, key))
        else:
            yield path, (*where, key), node if isinstance(node, BaseModel) else Constant(node)


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
        for path in leaf.node.paths(leaf.path):
            for other_path, other in seen.items():
                if other is not leaf and (_within(path, other_path) or _within(other_path, path)):
                    raise FieldError(leaf.where, f"{path!r} is set twice (also by {'.'.join(other.where)}); keep one")
            seen[path] = leaf


def _merged(settings: Iterable[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for setting in settings:
        merged.update(setting)
    return merged


def _set_path(data: dict[str, Any], keys: list[str], value: Any) -> None:
    """Set ``data[k0][k1]…= value``, creating (or replacing non-mapping) intermediate levels."""
    for key in keys[:-1]:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    data[keys[-1]] = value
