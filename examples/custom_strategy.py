"""An example weighting strategy written outside weightsearch: each task's weight ramps in over its first steps.

A spec names a strategy of your own by its import path ``"package.module:Class"`` wherever it
would name a built-in one; ``weightsearch`` imports it from the current directory (run from the
repository root) or from any installed package. In a search space, Optuna samples its keyword
arguments::

    strategy:
      "examples.custom_strategy:WarmupWeighting":
        warmup: {int: [100, 2000], step: 100}
        floor: {float: [0.0, 0.5]}

In a trial config::

    strategy: "examples.custom_strategy:WarmupWeighting"
    strategy_params: {warmup: 500, floor: 0.1}

In Python: ``make_strategy("examples.custom_strategy:WarmupWeighting", tasks, warmup=500)``.
To write your own, copy this file: subclass ``WeightingStrategy``, take hyperparameters as typed
keyword-only arguments after ``tasks``, keep state in buffers, expose ``weights`` and implement
``_weigh``; the rules it must keep are in ``WeightingStrategy``'s docstring.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from weightsearch.errors import UserError
from weightsearch.weighting import PresentTasks, WeightingStrategy


class WarmupWeighting(WeightingStrategy):
    """``w_i = floor + (1 - floor) · min(1, n_i / warmup)``, ``n_i`` the number of steps task ``i`` was present.

    A task enters the total gradually over the first ``warmup`` steps it takes part in, so a freshly
    initialised head's large early loss (or a task labelled only on some batches) does not swamp
    the shared trunk; afterwards every weight is 1. Counting per task, not per training step, means a
    task that appears late still gets its full warm-up. The counts are a buffer, so they travel
    with ``state_dict`` and a resumed trial continues the ramp where it stopped.
    """

    def __init__(self, tasks: Sequence[str], *, warmup: int = 500, floor: float = 0.0) -> None:
        super().__init__(tasks)
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise UserError(f"{self.name}: parameter 'warmup' must be an integer >= 0, got {warmup!r}")
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0.0 <= floor <= 1.0:
            raise UserError(f"{self.name}: parameter 'floor' must be a number in [0, 1], got {floor!r}")
        self.warmup = warmup
        self.floor = float(floor)
        # Counted on the device, so the ramp costs no host-device copy; a float counts exactly to 2^24 steps.
        self.register_buffer("seen", torch.zeros(len(self.tasks)))

    @property
    def weights(self) -> torch.Tensor:
        """Each task's weight at the latest step it was present in (before any: ``floor``)."""
        return self._ramp(self.seen)

    def _ramp(self, seen: torch.Tensor) -> torch.Tensor:
        """The weight after ``seen`` steps of presence."""
        if self.warmup == 0:
            return torch.ones_like(seen)
        return self.floor + (1.0 - self.floor) * (seen / self.warmup).clamp(max=1.0)

    def _weigh(
        self, present: PresentTasks, step: int, shared_parameters: Sequence[torch.Tensor] | None
    ) -> torch.Tensor:
        # In place is safe here: no autograd graph holds the counts, only values derived from them.
        self.seen[present.selection] += 1
        return self._ramp(self.seen[present.selection])
