"""A learning-curve pruner: stop a trial only when its extrapolated final objective is, with high
probability, worse than the study's ``top``-th best finished value.

At the trial's latest evaluation step ``s``, the finished (COMPLETE) trials that reported at ``s`` and
ran past it give pairs (log value at ``s``, log final value). A least-squares line through them
predicts the trial's log final value from its log value at ``s``, with Student's t prediction
interval (n − 2 degrees of freedom). The trial is pruned when the probability that its final value
beats the ``top``-th best finished value is at most ``1 − confidence``.

Why this model:

- Log space: losses fall multiplicatively, so a final / value-at-``s`` ratio is a shift in logs. A
  slope of 1 extrapolates by the typical ratio; the fitted slope also covers studies where early
  values say little (slope near 0, a wide interval: no trial is confidently worse), the slow
  starters that end best and that a median pruner stops.
- Selection: finished trials are survivors of earlier pruning, chosen on their intermediate values.
  A regression of the final value on the value at ``s`` stays unbiased under selection on that value
  (not on values at other steps, so only nearly), where a distribution of ratios would not.
- Reference: the ``top``-th best finished value, not the best: a sweep's confirmation re-trains its
  top 3 (``confirm.top``), and the best final is one lucky seed's. On the replayed landscapes
  (``benchmarks/search_efficiency.py``) comparing with the best pruned the best configuration's
  trials on the noisy grid (3 of 8 searches found it, against 5 with the 3rd best).
- A limit: where the curve says nothing, a trial still enters the top ``top`` of ``n`` finished ones
  with probability only about ``top / (n + 1)``, so beyond ``top / (1 − confidence)`` finished trials
  (60 at the defaults) even uninformative steps prune.

Objectives must be positive (losses, errors, accuracies); a non-positive value is never pruned, a NaN
always is (as Optuna's pruners do). Cost: one read of the study's finished trials per report.
"""

from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from scipy import stats

MIN_COMPLETE_FLOOR = 3  # a line through n points has n − 2 degrees of freedom left for its spread


class CurvePruner(optuna.pruners.BasePruner):
    """Prune when P(final better than the ``top``-th best finished value) ≤ 1 − ``confidence``, the final
    value predicted from the value at this step by a log-log line through ≥ ``min_complete`` finished
    trials (see the module docstring). Single-objective studies only, like every Optuna pruner."""

    def __init__(self, confidence: float = 0.95, top: int = 3, min_complete: int = 5) -> None:
        if not 0.5 <= confidence < 1.0:
            raise ValueError(f"confidence must be in [0.5, 1), got {confidence!r}")
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise ValueError(f"top must be an integer >= 1, got {top!r}")
        if isinstance(min_complete, bool) or not isinstance(min_complete, int) or min_complete < MIN_COMPLETE_FLOOR:
            raise ValueError(f"min_complete must be an integer >= {MIN_COMPLETE_FLOOR}, got {min_complete!r}")
        self.confidence = float(confidence)
        self.top = top
        self.min_complete = min_complete

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        value = trial.intermediate_values[step]
        if math.isnan(value):
            return True
        if not (math.isfinite(value) and value > 0):
            return False
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        pairs = [
            (math.log(finished.intermediate_values[step]), math.log(finished.value))
            for finished in complete
            if finished.value is not None
            and _positive(finished.value)
            and finished.last_step is not None
            and finished.last_step > step
            and _positive(finished.intermediate_values.get(step))
        ]
        if len(pairs) < self.min_complete:
            return False
        minimize = study.direction == StudyDirection.MINIMIZE
        finals = sorted((final for _, final in pairs), reverse=not minimize)
        reference = finals[min(self.top, len(finals)) - 1]
        return probability_better(pairs, math.log(value), reference, minimize) <= 1 - self.confidence


def probability_better(pairs: list[tuple[float, float]], x: float, reference: float, minimize: bool) -> float:
    """P(y < reference) (``minimize``; else y > reference) for a new point at ``x``, from the least-squares
    line through ``pairs`` (x, y) and its Student's t prediction interval."""
    xs, ys = np.array(pairs).T
    n = len(xs)
    spread_x = float(((xs - xs.mean()) ** 2).sum())
    if spread_x == 0:  # every trial had the same value here: nothing to extrapolate from
        return 1.0
    slope = float(((xs - xs.mean()) * (ys - ys.mean())).sum()) / spread_x
    predicted = ys.mean() + slope * (x - xs.mean())
    residual = float(((ys - ys.mean() - slope * (xs - xs.mean())) ** 2).sum()) / (n - 2)
    scale = math.sqrt(residual * (1 + 1 / n + (x - xs.mean()) ** 2 / spread_x))
    if scale == 0:
        better = predicted < reference if minimize else predicted > reference
        return float(better)
    below = float(stats.t.cdf((reference - predicted) / scale, n - 2))
    return below if minimize else 1 - below


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0
