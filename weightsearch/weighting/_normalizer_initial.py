"""Initial-loss normalization: each loss divided by the task's loss at the start of training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from weightsearch.weighting._initial_losses import update_initial_losses
from weightsearch.weighting._normalizer_base import LossNormalizer
from weightsearch.weighting._normalizer_registry import register_normalizer
from weightsearch.weighting._params import check_count


@register_normalizer("initial")
class InitialLossNormalization(LossNormalizer):
    """``L̂_i = L_i / L_i(0)``, ``L_i(0)`` the mean of the task's first ``k`` observed losses.

    Steps where a task is absent do not count towards its ``k``. Until ``k`` losses were seen the
    denominator is the running mean so far (including the current loss, so the first step gives 1).
    """

    def __init__(self, tasks: Sequence[str], *, k: int = 1) -> None:
        super().__init__(tasks)
        self.k = check_count(self.name, "k", k)
        self.register_buffer("sums", torch.zeros(len(self.tasks)))
        self.register_buffer("denominators", torch.ones(len(self.tasks)))
        # Observation counts depend only on which tasks were present: kept on the host, no sync.
        self.counts = [0] * len(self.tasks)

    def normalize(self, losses: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        present = self._index.present(losses, self.sums)
        self.counts, self.sums, self.denominators = update_initial_losses(
            present, self.counts, self.k, self.sums, self.denominators
        )
        return dict(zip(losses, (present.losses / self.denominators[present.selection]).unbind()))

    def get_extra_state(self) -> dict[str, Any]:
        return {"counts": list(self.counts)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.counts = list(state["counts"])
