"""Importance weights: relative priorities turned into weights that sum to the number of tasks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from weightsearch.errors import UserError
from weightsearch.weighting._base import WeightingStrategy
from weightsearch.weighting._indexing import stack_losses
from weightsearch.weighting._params import per_task_values
from weightsearch.weighting._registry import register


@register("importance")
class ImportanceWeighting(WeightingStrategy):
    """``w_i = T · p_i / Σ_j p_j`` for priorities ``p_i >= 0`` (unlisted tasks: ``p = 1``).

    A primary task with auxiliaries is ``{primary: 4, aux_1: 1, aux_2: 1}``: the primary gets four
    times an auxiliary's weight while the total scale stays that of ``T`` equally weighted tasks,
    so a sweep can search the ratio without also moving the effective learning rate. The sum runs
    over all tasks, so a task's weight does not change on steps where others are absent.
    """

    def __init__(self, tasks: Sequence[str], *, priorities: Mapping[str, float] | None = None) -> None:
        super().__init__(tasks)
        values = torch.tensor(per_task_values(self.name, "priorities", priorities, self.tasks, default=1.0))
        if values.sum() <= 0:
            raise UserError(f"{self.name}: parameter 'priorities' must give at least one task a priority > 0")
        self.register_buffer("weights", len(self.tasks) * values / values.sum(), persistent=False)

    def weigh(
        self,
        losses: Mapping[str, torch.Tensor],
        step: int,
        shared_parameters: Sequence[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        weights = self.weights[self._selection(self._positions(losses), self.weights.device)]
        total = (weights * stack_losses(losses, weights.dtype)).sum()
        return total, dict(zip(losses, weights.unbind()))

    def current_weights(self) -> dict[str, float]:
        return dict(zip(self.tasks, self.weights.tolist()))
