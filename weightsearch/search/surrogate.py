"""A surrogate over λ: a Gaussian process fitted to a study's finished trials of one strategy family, searched
over Dirichlet draws of the simplex (RegMix's recipe), proposes the configurations it predicts best.

Features, each scaled to [0, 1]: a simplex's weights as log fractions of its total (floored at
:data:`SIMPLEX_FLOOR`; on the recorded 6×6 landscape, leave-one-cell-out Spearman ρ 0.77 against 0.51 for
plain fractions: ``benchmarks/surrogate.py``), a float or int as its position in its range (in log space
where the space says ``log``), a choice one-hot.
The target is a trial's objective value (a multi-seed trial's is already its seed mean). Candidates are
``draws`` configurations drawn the way the space samples them (uniform coordinates → Dirichlet(1, …, 1)
weights; floats and ints uniform in their, possibly log, range; choices uniform); the proposals are the
best by predicted mean, each at least :data:`SPACING` from the ones before it so that N proposals are N
different configurations.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from weightsearch.config import SearchSpace
from weightsearch.config.kinds import U_HIGH, U_LOW, Choice, Constant, FixedValues, FloatRange, IntRange, Simplex
from weightsearch.config.space import Leaf
from weightsearch.errors import UserError

MIN_TRIALS = 5  # and at least two more than the family has features
DEFAULT_DRAWS = 20_000
SPACING = 0.1  # least Euclidean distance between two proposals' features
SIMPLEX_FLOOR = 1e-3  # a weight below this fraction of the total counts as this fraction (its feature is 0)
FIT_SUBSAMPLE = 128  # the kernel's hyperparameters are fitted on at most this many trials, then kept for all


@dataclass(frozen=True)
class Proposal:
    """One proposed configuration with the surrogate's prediction of its objective.

    ``params`` are Optuna's parameter names and values (what ``Study.enqueue_trial`` takes), ``values`` the
    ``TrialConfig`` paths and values they give (what :meth:`SearchSpace.sample` returns), ``weights`` the
    simplex weights λ among them. ``std`` is the predicted spread of one trial's outcome (the model's
    uncertainty and the trial-to-trial noise the GP learned).
    """

    strategy: str | None
    params: dict[str, Any]
    values: dict[str, Any]
    weights: dict[str, float]
    mean: float
    std: float


def family_of(trial: optuna.trial.FrozenTrial, space: SearchSpace) -> str | None:
    """The strategy family of ``trial`` (None when the space does not sample the strategy)."""
    return trial.params.get("strategy") if space.strategy is not None else None


def searchable(space: SearchSpace, strategy: str | None) -> bool:
    """Whether the space samples any parameter for ``strategy`` (one without has nothing to propose)."""
    return _Encoder(space, strategy).width > 0


def needed_trials(space: SearchSpace, strategy: str | None) -> int:
    """How many finished trials of ``strategy`` the surrogate needs: :data:`MIN_TRIALS`, or features + 2."""
    return max(MIN_TRIALS, _Encoder(space, strategy).width + 2)


def finished_trials(
    trials: Sequence[optuna.trial.FrozenTrial], space: SearchSpace, strategy: str | None
) -> list[optuna.trial.FrozenTrial]:
    """The COMPLETE trials of ``strategy`` with a finite value and every parameter the space gives the family."""
    encoder = _Encoder(space, strategy)
    return [
        trial
        for trial in trials
        if trial.state == TrialState.COMPLETE
        and trial.values is not None
        and len(trial.values) == 1
        and math.isfinite(trial.values[0])
        and family_of(trial, space) == strategy
        and encoder.encodes(trial.params)
    ]


def propose(
    trials: Sequence[optuna.trial.FrozenTrial],
    space: SearchSpace,
    direction: str,
    n: int,
    *,
    seed: int = 0,
    draws: int = DEFAULT_DRAWS,
    strategy: str | None = None,
) -> list[Proposal]:
    """The ``n`` configurations of strategy family ``strategy`` a GP fitted to its finished ``trials`` predicts best.

    ``direction`` is the study's, ``"minimize"`` or ``"maximize"``. When the space samples the strategy,
    ``strategy`` must name one of its families. Raises UserError with too few finished trials.
    """
    if n < 1:
        raise UserError(f"n: propose at least 1 configuration (got {n})")
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', not {direction!r}")
    families = space.strategy_names()
    if families and strategy not in families:
        raise UserError(f"strategy: {strategy!r} is not a strategy of the space; use one of: {', '.join(families)}")
    if not families and strategy is not None:
        raise UserError(f"strategy: the space does not sample the strategy; drop {strategy!r}")
    encoder = _Encoder(space, strategy)
    family = f" of strategy {strategy!r}" if strategy is not None else ""
    if encoder.width == 0:
        raise UserError(f"the space samples no parameter{family}: there is nothing to propose")
    usable = finished_trials(trials, space, strategy)
    needed = needed_trials(space, strategy)
    if len(usable) < needed:
        raise UserError(
            f"the surrogate needs at least {needed} finished trials{family}, the study has {len(usable)}; "
            "run more trials first (weightsearch resume NAME --num-samples K)"
        )
    rng = np.random.default_rng(seed)
    features = np.array([encoder.features(trial.params) for trial in usable])
    targets = np.array([trial.values[0] for trial in usable])
    model = fit_model(features, targets, rng)
    columns = encoder.draw(rng, draws)
    candidates = encoder.matrix(columns)
    means = model.predict(candidates)
    order = np.argsort(means if direction == "minimize" else -means, kind="stable")
    chosen: list[int] = []
    for index in order:
        if all(np.linalg.norm(candidates[index] - candidates[other]) >= SPACING for other in chosen):
            chosen.append(int(index))
            if len(chosen) == n:
                break
    means, stds = model.predict(candidates[chosen], return_std=True)
    proposals = []
    for index, mean, std in zip(chosen, means, stds):
        params = encoder.params(columns, index)
        values = space.sample(FixedValues(params if strategy is None else {**params, "strategy": strategy}))
        proposals.append(
            Proposal(
                strategy=strategy,
                params=params if strategy is None else {"strategy": strategy, **params},
                values=values,
                weights={path: values[path] for path in encoder.weight_paths()},
                mean=float(mean),
                std=float(std),
            )
        )
    return proposals


def fit_model(features: np.ndarray, targets: np.ndarray, rng: np.random.Generator) -> GaussianProcessRegressor:
    """A GP with a Matérn-5/2 kernel (one length scale per feature) and learned noise.

    Its hyperparameters are fitted on at most :data:`FIT_SUBSAMPLE` trials (the fit's cost grows with
    the cube of the trials), then the GP is conditioned on all of them with those hyperparameters.
    """
    width = features.shape[1]
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
        length_scale=np.full(width, 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5
    ) + WhiteKernel(0.1, (1e-6, 1e1))
    seed = int(rng.integers(2**31))
    subset = rng.permutation(len(targets))[:FIT_SUBSAMPLE]
    tuned = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2, random_state=seed)
    with warnings.catch_warnings():
        # A length scale at its bound means "this feature hardly matters": an answer, not a failure.
        warnings.simplefilter("ignore", ConvergenceWarning)
        tuned.fit(features[subset], targets[subset])
    if len(subset) == len(targets):
        return tuned
    return GaussianProcessRegressor(tuned.kernel_, normalize_y=True, optimizer=None).fit(features, targets)


class _Encoder:
    """A family's sampled parameters: features of Optuna params, and candidate draws as columns of Optuna values."""

    def __init__(self, space: SearchSpace, strategy: str | None) -> None:
        self.leaves: list[Leaf] = [leaf for leaf in space.leaves(strategy) if not isinstance(leaf.node, Constant)]

    @property
    def width(self) -> int:
        return sum(_width(leaf.node) for leaf in self.leaves)

    def names(self, leaf: Leaf) -> list[str]:
        """The Optuna parameter names of ``leaf`` (a simplex has one uniform coordinate per task)."""
        if isinstance(leaf.node, Simplex):
            return [f"{leaf.optuna_name}.{task}:u" for task in leaf.node.tasks]
        return [leaf.optuna_name]

    def weight_paths(self) -> list[str]:
        """The TrialConfig paths of the simplex weights."""
        return [
            f"{leaf.path}.{task}" for leaf in self.leaves if isinstance(leaf.node, Simplex) for task in leaf.node.tasks
        ]

    def encodes(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` hold a value for every parameter (and a choice among the choices)."""
        for leaf in self.leaves:
            if any(name not in params for name in self.names(leaf)):
                return False
            if isinstance(leaf.node, Choice) and params[leaf.optuna_name] not in leaf.node.choices:
                return False
        return True

    def features(self, params: Mapping[str, Any]) -> np.ndarray:
        columns = {}
        for leaf in self.leaves:
            names = self.names(leaf)
            if isinstance(leaf.node, Choice):
                columns[names[0]] = np.array([leaf.node.choices.index(params[names[0]])])
            else:
                columns.update({name: np.array([float(params[name])]) for name in names})
        return self.matrix(columns)[0]

    def draw(self, rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
        """``count`` candidates drawn as the space samples: Optuna name -> values (a choice's: indices)."""
        columns: dict[str, np.ndarray] = {}
        for leaf in self.leaves:
            node = leaf.node
            if isinstance(node, Simplex):
                columns.update({name: rng.uniform(U_LOW, U_HIGH, count) for name in self.names(leaf)})
            elif isinstance(node, Choice):
                columns[leaf.optuna_name] = rng.integers(len(node.choices), size=count)
            elif isinstance(node, FloatRange):
                low, high = node.bounds
                if node.log:
                    columns[leaf.optuna_name] = np.exp(rng.uniform(math.log(low), math.log(high), count))
                elif node.step is not None:
                    steps = round((high - low) / node.step)
                    columns[leaf.optuna_name] = low + node.step * rng.integers(steps + 1, size=count)
                else:
                    columns[leaf.optuna_name] = rng.uniform(low, high, count)
            elif isinstance(node, IntRange):
                low, high = node.bounds
                if node.log:
                    drawn = np.exp(rng.uniform(math.log(low - 0.5), math.log(high + 0.5), count))
                    columns[leaf.optuna_name] = np.clip(np.rint(drawn), low, high).astype(int)
                else:
                    columns[leaf.optuna_name] = low + node.step * rng.integers(
                        (high - low) // node.step + 1, size=count
                    )
        return columns

    def matrix(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Features in [0, 1], one row per candidate."""
        blocks = []
        for leaf in self.leaves:
            node = leaf.node
            if isinstance(node, Simplex):
                exponentials = np.stack([-np.log(columns[name]) for name in self.names(leaf)], axis=1)
                blocks.append(simplex_features(exponentials / exponentials.sum(axis=1, keepdims=True)))
            elif isinstance(node, Choice):
                blocks.append(np.eye(len(node.choices))[columns[leaf.optuna_name].astype(int)][:, 1:])
            else:
                low, high = node.bounds
                values = np.asarray(columns[leaf.optuna_name], dtype=float)
                if node.log:
                    values, low, high = np.log(values), math.log(low), math.log(high)
                blocks.append(((values - low) / (high - low))[:, None])
        count = len(next(iter(columns.values()))) if columns else 1
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((count, 0))

    def params(self, columns: Mapping[str, np.ndarray], index: int) -> dict[str, Any]:
        """Candidate ``index`` as Optuna params (Python scalars, a choice's value)."""
        params: dict[str, Any] = {}
        for leaf in self.leaves:
            for name in self.names(leaf):
                value = columns[name][index]
                if isinstance(leaf.node, Choice):
                    params[name] = leaf.node.choices[int(value)]
                elif isinstance(leaf.node, IntRange):
                    params[name] = int(value)
                else:
                    params[name] = float(value)
        return params


def simplex_features(fractions: np.ndarray) -> np.ndarray:
    """Points on the simplex (rows of weights / their total) as features in [0, 1]: log fractions floored at
    :data:`SIMPLEX_FLOOR`, so that weights a factor apart are a step apart, as λ are usually chosen."""
    return 1.0 - np.log(np.maximum(fractions, SIMPLEX_FLOOR)) / math.log(SIMPLEX_FLOOR)


def _width(node: Any) -> int:
    """How many features a parameter gives (a choice one-hot less its first choice)."""
    if isinstance(node, Simplex):
        return len(node.tasks)
    if isinstance(node, Choice):
        return len(node.choices) - 1
    return 1
