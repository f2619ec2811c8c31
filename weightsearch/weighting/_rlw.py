"""Random Loss Weighting: fresh random weights every step (Lin et al., 2021)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from weightsearch.errors import UserError
from weightsearch.weighting._base import WeightingStrategy
from weightsearch.weighting._indexing import PresentTasks, scatter
from weightsearch.weighting._registry import register


@register("rlw")
class RandomLossWeighting(WeightingStrategy):
    """``w = P · softmax(z)``, ``z_i ~ N(0, 1)`` drawn anew each step, ``P`` tasks present; ``L = Σ_i w_i L_i``.

    Lin et al., "Reasonable Effectiveness of Random Weighting: A Litmus Test for Multi-Task
    Learning", TMLR 2022 (arXiv 2111.10603, 2021), the normal-distribution variant. A draw covers
    all tasks, so the random stream does not depend on which tasks are present; the softmax runs
    over the present tasks' draws. The paper's (and LibMTL's) weights sum to 1; ours are ``P`` times
    those, so they average 1 as every normalised strategy's do and the total has the scale of ``P``
    equally weighted tasks. The draws come from a CPU ``torch.Generator`` seeded with ``seed`` (the
    same stream as ``torch.manual_seed(seed)``) whose state is checkpointed, so a resumed trial
    draws what an uninterrupted one would.
    """

    def __init__(self, tasks: Sequence[str], *, seed: int = 0) -> None:
        super().__init__(tasks)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise UserError(f"{self.name}: parameter 'seed' must be an integer, got {seed!r}")
        self.generator = torch.Generator().manual_seed(seed)
        self.register_buffer("weights", torch.ones(len(self.tasks)))

    def _weigh(
        self, present: PresentTasks, step: int, shared_parameters: Sequence[torch.Tensor] | None
    ) -> torch.Tensor:
        # Drawn and normalised on the host (T numbers), then sent to the device in one copy.
        draws = torch.randn(len(self.tasks), generator=self.generator)
        weights = len(present.positions) * torch.softmax(draws[list(present.positions)], dim=0)
        if self.weights.device.type == "cuda":
            # A pageable host-to-device copy would synchronise the stream every step.
            weights = weights.pin_memory()
        weights = weights.to(self.weights.device, non_blocking=True)
        self.weights = scatter(weights, present.selection, self.weights)
        return weights

    def get_extra_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
