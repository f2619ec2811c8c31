"""A pruner that knows the landscape's truth: what pruning could save at best if it acted from a given step.

At a trial's first evaluation at or after step ``at``, the oracle stops it unless its point's true value
(the landscape's seed mean) is within ``within`` of the landscape's best; the points near the best run to
the end. No real pruner knows the truth, so the oracle's steps to the best are the reference for every
pruner that acts no earlier than ``at``: to save more than the oracle does from step ``at``, a pruner has
to act earlier, where the landscape's early values rank the final ones less well. (A reference, not a
proof: a different set of pruned trials steers TPE along a different path.)
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial

from benchmarks.landscapes import Landscape, point_of


class OraclePruner(optuna.pruners.BasePruner):
    """Stop, from step ``at`` on, every trial whose point is not within ``within`` of ``landscape``'s best true value."""

    def __init__(self, landscape: Landscape, at: int, within: float) -> None:
        self.landscape = landscape
        self.at = at
        self.threshold = landscape.best[1] * (1 + within)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        return step is not None and step >= self.at and self.landscape.truth(point_of(trial.params)) > self.threshold
