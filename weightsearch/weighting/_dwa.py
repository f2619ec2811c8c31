"""Dynamic Weight Average: weights from the tasks' recent rates of loss descent (Liu et al., 2019)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from weightsearch.weighting._base import WeightingStrategy
from weightsearch.weighting._indexing import PresentTasks
from weightsearch.weighting._params import check_count, check_number
from weightsearch.weighting._registry import register

MIN_LOSS = 1e-12
"""Floor of a window's mean loss in the rate's denominator, so a zero loss cannot divide by zero."""


@register("dwa")
class DynamicWeightAverage(WeightingStrategy):
    """``w_i = T · exp(r_i / temperature) / Σ_j exp(r_j / temperature)``, ``r_i = L̄_i(k-1) / L̄_i(k-2)``.

    Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019, eq. 7.
    ``L̄_i(k)`` is the task's mean loss over its ``k``-th window of ``window`` observed losses; the
    paper (and LibMTL) use epochs, which a step-budgeted trial may never complete, so windows are
    counted in steps, per task (a step where the task is absent does not count). A task with fewer
    than two complete windows has rate 1, so all weights are equal until two windows are complete.
    Weights change only when a window closes. Losses should be positive (the rate is a ratio); the
    detached losses handed in are used.
    """

    needs_positive_losses = True

    def __init__(self, tasks: Sequence[str], *, temperature: float = 2.0, window: int = 50) -> None:
        super().__init__(tasks)
        self.temperature = check_number(self.name, "temperature", temperature, positive=True)
        self.window = check_count(self.name, "window", window)
        count = len(self.tasks)
        self.register_buffer("window_sums", torch.zeros(count))
        # Column 0: mean of the window before last; column 1: mean of the last complete window.
        self.register_buffer("window_means", torch.ones(count, 2))
        # Derived from the window means, so not saved: set_extra_state recomputes it.
        self.register_buffer("weights", torch.ones(count), persistent=False)
        # Counts live on the host: they depend only on which tasks were present, not on loss values.
        self.window_counts = [0] * count
        self.complete_windows = [0] * count

    def _weigh(
        self, present: PresentTasks, step: int, shared_parameters: Sequence[torch.Tensor] | None
    ) -> torch.Tensor:
        weights = self.weights[present.selection]
        with torch.no_grad():
            self._record(present)
        return weights

    def _record(self, present: PresentTasks) -> None:
        """Add the step's losses to the present tasks' windows; close full windows and update the weights."""
        self.window_sums[present.selection] += present.losses
        closing = []
        for position in present.positions:
            self.window_counts[position] += 1
            if self.window_counts[position] == self.window:
                closing.append(position)
        if not closing:
            return
        closed = torch.tensor(closing, device=self.window_sums.device)
        self.window_means[closed] = torch.stack(
            [self.window_means[closed, 1], self.window_sums[closed] / self.window], dim=1
        )
        self.window_sums[closed] = 0.0
        for position in closing:
            self.window_counts[position] = 0
            self.complete_windows[position] += 1
        self._refresh_weights()

    def _refresh_weights(self) -> None:
        """Recompute the weights from the window means (a new tensor: this step's graph holds the old one)."""
        rates = self.window_means[:, 1] / self.window_means[:, 0].clamp(min=MIN_LOSS)
        rated = torch.tensor([count >= 2 for count in self.complete_windows], device=rates.device)
        rates = torch.where(rated, rates, torch.ones_like(rates))
        self.weights = len(self.tasks) * torch.softmax(rates / self.temperature, dim=0)

    def get_extra_state(self) -> dict[str, Any]:
        return {"window_counts": list(self.window_counts), "complete_windows": list(self.complete_windows)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.window_counts = list(state["window_counts"])
        self.complete_windows = list(state["complete_windows"])
        with torch.no_grad():
            self._refresh_weights()
