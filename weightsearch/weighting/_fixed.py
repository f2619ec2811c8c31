"""Fixed weights: the plain weighted sum whose λ values a sweep searches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from weightsearch.weighting._base import WeightingStrategy
from weightsearch.weighting._indexing import PresentTasks
from weightsearch.weighting._params import per_task_values
from weightsearch.weighting._registry import register


@register("fixed")
class FixedWeighting(WeightingStrategy):
    """``L = Σ_i λ_i L_i`` with constant ``λ_i >= 0``; tasks left out of ``weights`` get ``λ = 1.0``."""

    def __init__(self, tasks: Sequence[str], *, weights: Mapping[str, float] | None = None) -> None:
        super().__init__(tasks)
        values = per_task_values(self.name, "weights", weights, self.tasks, default=1.0)
        # Not persistent: λ is a hyperparameter of the run, not state a checkpoint should override.
        self.register_buffer("weights", torch.tensor(values), persistent=False)

    def _weigh(
        self, present: PresentTasks, step: int, shared_parameters: Sequence[torch.Tensor] | None
    ) -> torch.Tensor:
        return self.weights[present.selection]
