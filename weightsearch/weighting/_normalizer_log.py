"""Log normalization: each loss replaced by its logarithm, whose gradient does not depend on the loss's scale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from weightsearch.weighting._indexing import stack_losses
from weightsearch.weighting._normalizer_base import LossNormalizer
from weightsearch.weighting._normalizer_registry import register_normalizer
from weightsearch.weighting._params import check_number


@register_normalizer("log")
class LogNormalization(LossNormalizer):
    """``L̂_i = log(max(L_i, eps))``: scale-invariant, since ``∇ log L = ∇L / L``.

    A loss at or below zero (e.g. a negative log-likelihood) has no logarithm; it is clamped to
    ``eps``, where its gradient vanishes, so such tasks should use another normalizer. Losses
    below 1 become negative, which strategies that take ratios or logarithms cannot use.
    """

    keeps_sign = False

    def __init__(self, tasks: Sequence[str], *, eps: float = 1e-8) -> None:
        super().__init__(tasks)
        self.eps = check_number(self.name, "eps", eps, positive=True)

    def normalize(self, losses: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        logs = stack_losses(losses, torch.promote_types(next(iter(losses.values())).dtype, torch.float32))
        return dict(zip(losses, logs.clamp(min=self.eps).log().unbind()))
