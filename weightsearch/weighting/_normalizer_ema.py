"""EMA normalization: each loss divided by a bias-corrected moving average of the task's losses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from weightsearch.errors import UserError
from weightsearch.weighting._indexing import scatter
from weightsearch.weighting._normalizer_base import LossNormalizer
from weightsearch.weighting._normalizer_registry import register_normalizer
from weightsearch.weighting._params import check_number


@register_normalizer("ema")
class EmaNormalization(LossNormalizer):
    """``L̂_i = L_i / m̂_i``, ``m̂_i`` the bias-corrected moving average of the task's observed losses.

    ``m_i ← decay·m_i + (1 - decay)·L_i`` over the steps where the task is present (updated before
    dividing, so the first step gives 1); ``m̂_i = m_i / (1 - decay^{n_i})`` as in Adam (Kingma & Ba, 2015).
    """

    def __init__(self, tasks: Sequence[str], *, decay: float = 0.99) -> None:
        super().__init__(tasks)
        self.decay = check_number(self.name, "decay", decay, minimum=0.0)
        if self.decay >= 1.0:
            raise UserError(f"{self.name}: parameter 'decay' must be < 1 (the average would never move), got {decay}")
        self.register_buffer("averages", torch.zeros(len(self.tasks)))
        self.register_buffer("counts", torch.zeros(len(self.tasks)))

    def normalize(self, losses: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        present = self._index.present(losses, self.averages)
        selection = present.selection
        with torch.no_grad():
            averages = torch.lerp(self.averages[selection], present.losses, 1 - self.decay)
            counts = self.counts[selection] + 1
            self.averages = scatter(averages, selection, self.averages)
            self.counts = scatter(counts, selection, self.counts)
            corrected = averages / (1 - torch.pow(self.decay, counts))
        return dict(zip(losses, (present.losses / corrected).unbind()))
