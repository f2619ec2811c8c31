"""The identity normalizer: losses go to the strategy as they are."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from weightsearch.weighting._normalizer_base import LossNormalizer
from weightsearch.weighting._normalizer_registry import register_normalizer


@register_normalizer("none")
class NoNormalization(LossNormalizer):
    """Identity: ``L̂_i = L_i``."""

    def normalize(self, losses: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        return dict(losses)
