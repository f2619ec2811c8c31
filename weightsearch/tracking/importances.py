"""Parameter importances over the values users tune (strategy, each task's λ, lr, …), not the sampler's coordinates.

Optuna's parameters are its sampler's encoding: a simplex's λ are uniform coordinates ``…:u`` (λ ∝ −ln u,
so they run backwards and five of them stand for one choice), strategy arguments are prefixed, and
Optuna's importance only sees parameters present in every trial. Here every COMPLETE trial's readable
values (the ``lambda.*`` and ``value.*`` user attributes, :func:`weightsearch.contracts.readable_values`)
become the parameters of an in-memory study, ranked by Optuna's fANOVA evaluator (Hutter et al. 2014: each
value's share of the objective's variance over the whole space, seed 0). Not Optuna 5's default, PED-ANOVA,
which ranks what sets the top 10 % of trials apart: a local view that, on a few trials, credits the λ of
the best strategy and not the choice of strategy itself.
A number a trial's strategy does not have (λ in an ``uncertainty`` trial) is drawn from the values the
other trials have (seeded): it then tells nothing about the strategy, so the difference between
strategies is credited to ``strategy``. A fixed filler (a value below the range, or the mean) would mark
the strategy as well as ``strategy`` does, and the λ columns would share its credit.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Mapping, Sequence

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.importance import FanovaImportanceEvaluator

from weightsearch.contracts import ATTR_LAMBDA_PREFIX, ATTR_VALUE_PREFIX

NOT_APPLICABLE = "n/a"  # a categorical value a trial's strategy does not have


def readable_table(trials: Sequence[optuna.trial.FrozenTrial]) -> list[dict[str, object]]:
    """Each trial's readable values by display name (``λ align``, ``strategy``, ``lr``, ``dwa.temperature``)."""
    return [{label(name): value for name, value in trial.user_attrs.items() if label(name) != name} for trial in trials]


def label(attribute: str) -> str:
    """The display name of a readable attribute (``lambda.align`` → ``λ align``); other names unchanged."""
    if attribute.startswith(ATTR_LAMBDA_PREFIX):
        return "λ " + attribute.removeprefix(ATTR_LAMBDA_PREFIX)
    return attribute.removeprefix(ATTR_VALUE_PREFIX)


def readable_importances(trials: Sequence[optuna.trial.FrozenTrial], targets: Sequence[float]) -> dict[str, float]:
    """The fANOVA importance of each readable value that varies, for ``targets`` (one per trial).

    Trials without readable values (a sweep recorded before they existed) are left out; raises
    ValueError when fewer than two trials remain or no value varies.
    """
    rows = [(row, target) for row, target in zip(readable_table(trials), targets) if row and math.isfinite(target)]
    distributions, observed = _columns([row for row, _ in rows])
    draw = random.Random(0)
    if len(rows) < 2 or not distributions:
        raise ValueError(f"{len(rows)} COMPLETE trials with readable values, {len(distributions)} varying values")
    study = optuna.create_study()
    for row, target in rows:
        params = {name: _value(row, name, distribution, observed, draw) for name, distribution in distributions.items()}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=target))
    importances = optuna.importance.get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    return {name: float(importance) for name, importance in importances.items()}


def _columns(rows: Sequence[Mapping[str, object]]) -> tuple[dict[str, BaseDistribution], dict[str, list[float]]]:
    """A distribution per column that varies (float over its range, else categorical); each float column's values."""
    columns: dict[str, list[object]] = {}
    for row in rows:
        for name, value in row.items():
            columns.setdefault(name, []).append(value)
    distributions: dict[str, BaseDistribution] = {}
    observed: dict[str, list[float]] = {}
    for name, values in sorted(columns.items()):
        if all(isinstance(value, numbers.Real) and not isinstance(value, bool) for value in values):
            numbers_only = [float(value) for value in values]  # type: ignore[arg-type]
            if max(numbers_only) > min(numbers_only):
                distributions[name] = FloatDistribution(min(numbers_only), max(numbers_only))
                observed[name] = numbers_only
        else:
            missing = {NOT_APPLICABLE} if len(values) < len(rows) else set()
            choices = sorted({_category(value) for value in values} | missing)
            if len(choices) > 1:
                distributions[name] = CategoricalDistribution(choices)
    return distributions, observed


def _value(
    row: Mapping[str, object],
    name: str,
    distribution: BaseDistribution,
    observed: Mapping[str, list[float]],
    draw: random.Random,
) -> object:
    """A trial's value of a column as its distribution holds it; one it does not have: a drawn value, or n/a."""
    if isinstance(distribution, FloatDistribution):
        return float(row[name]) if name in row else draw.choice(observed[name])  # type: ignore[arg-type]
    return _category(row[name]) if name in row else NOT_APPLICABLE


def _category(value: object) -> str:
    return value if isinstance(value, str) else repr(value)
