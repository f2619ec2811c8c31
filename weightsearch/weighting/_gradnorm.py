"""GradNorm: weights that balance the tasks' gradient norms on the shared layer (Chen et al., 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from weightsearch.weighting._base import WeightingStrategy
from weightsearch.weighting._gradients import task_gramian
from weightsearch.weighting._indexing import PresentTasks, Selection, scatter
from weightsearch.weighting._initial_losses import update_initial_losses
from weightsearch.weighting._params import check_count, check_number
from weightsearch.weighting._registry import register

MIN_WEIGHT = 1e-4
"""Floor of a weight after a step: a gradient step on ``w`` can cross zero, which would flip a task's loss."""


@register("gradnorm")
class GradNormWeighting(WeightingStrategy):
    """``L = Σ_i w_i L_i``; ``w`` descends ``L_grad = Σ_i |G_i - Ḡ · r_i^α|`` and is renormalised to ``Σ w = T``.

    Chen et al., "GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep Multitask
    Networks", ICML 2018. ``G_i = ‖∇_W w_i L_i‖`` on the shared parameters ``W``, ``Ḡ`` their mean,
    ``r_i = L̃_i / mean_j L̃_j`` the relative inverse training rate with ``L̃_i = L_i / L_i(0)``.
    As in the paper, the target ``Ḡ r_i^α`` is a constant, so ``∂L_grad/∂w_i = sign(G_i - target_i)
    · ‖∇_W L_i‖`` in closed form: one batched backward pass of the task losses to ``W`` (the task
    heads' graph only), no second-order graph. ``w`` are buffers updated here with step size ``lr``
    after the step's total is formed with the current ``w`` (the paper updates ``w`` alongside the
    network). Weights are floored at ``MIN_WEIGHT``, which the paper leaves implicit. ``L_i(0)`` is
    the mean of the task's first ``window`` observed losses (the running mean until then). On a step
    with some tasks absent only the present tasks' weights move, keeping their sum, so ``Σ w = T``.
    """

    needs_shared_parameters = True
    needs_positive_losses = True

    def __init__(self, tasks: Sequence[str], *, alpha: float = 1.5, lr: float = 0.025, window: int = 1) -> None:
        super().__init__(tasks)
        self.alpha = check_number(self.name, "alpha", alpha, minimum=0.0)
        self.lr = check_number(self.name, "lr", lr, positive=True)
        self.window = check_count(self.name, "window", window)
        count = len(self.tasks)
        self.register_buffer("weights", torch.ones(count))
        self.register_buffer("initial_sums", torch.zeros(count))
        self.register_buffer("initial_losses", torch.ones(count))
        # Observation counts live on the host: they depend only on which tasks were present.
        self.initial_counts = [0] * count

    def _weigh(
        self, present: PresentTasks, step: int, shared_parameters: Sequence[torch.Tensor] | None
    ) -> torch.Tensor:
        selection, losses = present.selection, present.losses
        weights = self.weights[selection]
        gramian = task_gramian(losses, shared_parameters)
        self.initial_counts, self.initial_sums, self.initial_losses = update_initial_losses(
            present, self.initial_counts, self.window, self.initial_sums, self.initial_losses
        )
        with torch.no_grad():
            self.weights = scatter(self._stepped(weights, losses, selection, gramian), selection, self.weights)
        return weights

    def _stepped(
        self, weights: torch.Tensor, losses: torch.Tensor, selection: Selection, gramian: torch.Tensor
    ) -> torch.Tensor:
        """The present tasks' weights after one descent step of ``L_grad``, rescaled to their previous sum."""
        loss_ratios = losses / self.initial_losses[selection]
        inverse_rates = loss_ratios / loss_ratios.mean()
        unweighted_norms = gramian.diagonal().sqrt()
        grad_norms = weights * unweighted_norms
        targets = grad_norms.mean() * inverse_rates.pow(self.alpha)
        stepped = torch.addcmul(weights, torch.sign(grad_norms - targets), unweighted_norms, value=-self.lr)
        stepped = stepped.clamp(min=MIN_WEIGHT)
        return stepped * (weights.sum() / stepped.sum())

    def get_extra_state(self) -> dict[str, Any]:
        return {"initial_counts": list(self.initial_counts)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.initial_counts = list(state["initial_counts"])
