"""Pre-run checks of a sweep spec against what only the code knows: the weighting library's
strategies and their arguments, the model's tasks and the metrics a trial reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from weightsearch.config import Simplex, SweepSpec, TrialConfig
from weightsearch.contracts import trainer_metric_names
from weightsearch.errors import UserError
from weightsearch.trial.components import TrialComponents
from weightsearch.trial.evaluation import evaluate
from weightsearch.trial.plugin import build_components
from weightsearch.weighting import (
    make_normalizer,
    make_strategy,
    strategy_arguments,
    strategy_class,
)


@dataclass(frozen=True)
class SpecCheck:
    """What validating a spec against its model found: its tasks, the metrics a trial reports, its baselines."""

    tasks: tuple[str, ...]
    metrics: frozenset[str]
    baselines: dict[str, Any]


def check_spec(spec: SweepSpec) -> SpecCheck:
    """Check a spec against the code: strategies and their arguments, tasks named in the space, objective metrics.

    Builds the base trial's components once on the CPU (cheap at tiny size), constructs each
    strategy and normalizer the space can produce, and evaluates the untrained model once to
    learn the metric names, so errors surface here, not in a trial.
    """
    _check_strategies(spec)
    components = _build_on_cpu(spec.trial)
    _check_task_names(spec, components.tasks)
    _check_constructible(spec, components.tasks)
    metrics = frozenset(_metric_names(components, spec.trial.diagnostics))
    for index, metric in enumerate(spec.metrics):
        if metric not in metrics:
            field = "objective.metric" if not spec.is_multi_objective else f"objective.{index}.metric"
            examples = sorted(name for name in metrics if name.startswith("val/") and "/loss/" not in name)
            raise UserError(
                f"spec field '{field}': the trial never reports {metric!r}; use e.g. {', '.join(examples[:6])} "
                f"(or any other of the {len(metrics)} metrics this trial reports: README, 'Metric names')"
            )
    return SpecCheck(tuple(components.tasks), metrics, dict(components.baselines))


def reported_metrics(trial: TrialConfig) -> set[str]:
    """The metric names a trial of ``trial`` reports (train, diagnostics, validation, bookkeeping)."""
    return _metric_names(_build_on_cpu(trial), trial.diagnostics)


def _build_on_cpu(trial: TrialConfig) -> TrialComponents:
    try:
        return build_components(
            trial.model, trial.options, seed=trial.seed, batch_size=trial.batch_size, device=torch.device("cpu")
        )
    except UserError as error:
        raise UserError(f"spec field 'trial': cannot build the model: {error}") from None
    except Exception as error:  # noqa: BLE001 - whatever a user's factory raises is the user's to fix
        message = " ".join(f"{type(error).__name__}: {error}".split())
        raise UserError(
            f"spec field 'trial.model': model factory {trial.model!r} failed on the CPU ({message}); fix the factory "
            "or the trial's options"
        ) from None


def _metric_names(components: TrialComponents, diagnostics: bool) -> set[str]:
    """Names the trainer reports (the shared contract) and those of the model's own evaluation."""
    names = trainer_metric_names(components.tasks, diagnostics=diagnostics)
    return names | set(evaluate(components, torch.device("cpu")))


def _check_strategies(spec: SweepSpec) -> None:
    """Every strategy the space names exists (registered or importable) and takes the arguments it is given."""
    for name in spec.space.strategy_names():
        try:
            accepted = strategy_arguments(strategy_class(name))
        except UserError as error:
            raise UserError(f"space field 'strategy.{name}': {error}") from None
        for argument in spec.space.strategy_arguments(name):
            if argument.split(".")[0] not in accepted:
                raise UserError(
                    f"space field 'strategy.{name}.{argument}': {name} takes no argument "
                    f"{argument.split('.')[0]!r}; it takes: {', '.join(sorted(accepted)) or 'nothing'}"
                )


def _check_task_names(spec: SweepSpec, tasks: Sequence[str]) -> None:
    """A simplex over a strategy argument's per-task weights names only the model's tasks."""
    for strategy in spec.space.strategy_names() or [None]:
        for leaf in spec.space.leaves(strategy):
            if not (isinstance(leaf.node, Simplex) and leaf.path.startswith("strategy_params.")):
                continue
            unknown = [task for task in leaf.node.tasks if task not in tasks]
            if unknown:
                raise UserError(
                    f"space field '{'.'.join(leaf.where)}': unknown task {unknown[0]!r}; "
                    f"the model's tasks are {', '.join(tasks)}"
                )


def _check_constructible(spec: SweepSpec, tasks: Sequence[str]) -> None:
    """Every strategy and normalizer the space can produce accepts its arguments (at the space's extremes)."""
    for params in spec.space.examples():
        config = spec.space.resolve(spec.trial, params)
        try:
            make_strategy(config.strategy, list(tasks), **config.strategy_params)
        except (UserError, ValueError, TypeError) as error:
            where = _origin(params, ("strategy", "strategy_params"))
            raise UserError(f"{where}: with arguments {config.strategy_params}: {error}") from None
        try:
            make_normalizer(config.normalization, list(tasks), **config.normalization_params)
        except (UserError, ValueError, TypeError) as error:
            where = _origin(params, ("normalization", "normalization_params"))
            raise UserError(f"{where}: {error}") from None


def _origin(params: dict[str, Any], fields: tuple[str, str]) -> str:
    """Where a rejected value came from: the space when it sampled one of ``fields``, else the base trial."""
    sampled = [path for path in params if path.split(".")[0] in fields]
    if not sampled:
        return f"spec field 'trial.{fields[0]}'"
    if fields[0] == "strategy" and "strategy" in params:
        return f"space field 'strategy.{params['strategy']}'"
    return f"space field 'parameters.{sampled[0]}'"
