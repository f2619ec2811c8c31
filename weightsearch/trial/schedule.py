"""The learning-rate schedule of a trial: linear warm-up, then cosine decay (as in nanoGPT)."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

WARMUP_FRACTION = 0.05
"""Share of the steps spent warming up linearly from ``lr / warmup_steps`` to ``lr``."""

FINAL_LR_FRACTION = 0.1
"""The cosine decays to this fraction of ``lr`` at the last step, not to zero, so late steps still learn."""


def warmup_cosine(optimizer: Optimizer, total_steps: int) -> LambdaLR:
    """Scale every group's ``lr`` by a linear warm-up over 5 % of ``total_steps``, then a cosine to 10 %.

    ``factor(s) = (s + 1) / warmup`` for ``s < warmup``, else
    ``final + (1 - final) · ½ (1 + cos(π · (s - warmup) / (total - warmup)))``; the scheduler is
    stepped once per optimizer step, so ``s`` is the index of the step about to run.
    """
    warmup_steps = max(1, round(WARMUP_FRACTION * total_steps))
    decay_steps = max(1, total_steps - warmup_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / decay_steps)
        return FINAL_LR_FRACTION + (1.0 - FINAL_LR_FRACTION) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
