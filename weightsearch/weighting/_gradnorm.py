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
"""Floor of a weight after a step, so that no task is switched off for good (the paper leaves it implicit)."""


def balance_gradient(
    weights: torch.Tensor, unweighted_norms: torch.Tensor, inverse_rates: torch.Tensor, alpha: float
) -> torch.Tensor:
    """``∂L_grad/∂w_i = sign(G_i - Ḡ r_i^α) · ‖∇_W L_i‖``, ``G_i = w_i ‖∇_W L_i‖``, the target held constant.

    Chen et al. 2018, eq. 2 and §3.2 ("we treat the target as a constant"); what LibMTL's autograd
    computes for ``L_grad`` through ``w`` (checked against it in ``tests/weighting/test_reference_values.py``).
    """
    grad_norms = weights * unweighted_norms
    targets = grad_norms.mean() * inverse_rates.pow(alpha)
    return torch.sign(grad_norms - targets) * unweighted_norms


@register("gradnorm")
class GradNormWeighting(WeightingStrategy):
    """``L = Σ_i w_i L_i``; ``w`` descends ``L_grad = Σ_i |G_i - Ḡ · r_i^α|`` in log space and keeps ``Σ w = T``.

    Chen et al., "GradNorm: Gradient Normalization for Adaptive Loss Balancing in Deep Multitask
    Networks", ICML 2018. ``G_i = ‖∇_W w_i L_i‖`` on the shared parameters ``W``, ``Ḡ`` their mean,
    ``r_i = L̃_i / mean_j L̃_j`` the relative inverse training rate with ``L̃_i = L_i / L_i(0)``.
    As in the paper, the target ``Ḡ r_i^α`` is a constant, so ``∂L_grad/∂w_i = sign(G_i - target_i)
    · ‖∇_W L_i‖`` in closed form (:func:`balance_gradient`): one batched backward pass of the task
    losses to ``W`` (the task heads' graph only), no second-order graph. After the step's total is
    formed with the current ``w``, the weights take one step

        ``w_i ← w_i exp(-lr · w_i ∂L_grad/∂w_i / Ḡ) = w_i exp(-lr · sign(G_i - target_i) · G_i / Ḡ)``,

    then are floored at ``MIN_WEIGHT`` and rescaled to their previous sum: a gradient step on
    LibMTL's parameterisation ``w = T · softmax(p)`` at rate ``lr / Ḡ``. The paper and LibMTL train
    ``w`` (``p``) with the network's optimizer at the network's learning rate; a plain step
    ``lr · ∂L_grad/∂w`` grows with the loss scale, and on the paper's toy problem (T = 2,
    σ = (1, 100), α = 0.12) it jumps between the floor and ~1 instead of settling. Divided by ``Ḡ``
    the step is invariant to the loss scale, and in log space it is relative to the weight, so a
    weight of 0.01 moves as smoothly as one of 2 (``tests/weighting/test_gradnorm.py``: the toy
    settles at ``G_2/G_1 ≈ 1.1`` for loss scales 1e-2 to 1e2). ``L_i(0)`` is the mean of the
    task's first ``window`` observed losses (the running mean until then; LibMTL: the first epoch's
    mean, with the weights held at 1 during that epoch).
    On a step with some tasks absent only the present tasks' weights move, keeping their sum.
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
        """The present tasks' weights after one log-space step on ``L_grad / Ḡ``, rescaled to their previous sum."""
        loss_ratios = losses / self.initial_losses[selection]
        inverse_rates = loss_ratios / loss_ratios.mean()
        unweighted_norms = gramian.diagonal().sqrt()
        gradient = balance_gradient(weights, unweighted_norms, inverse_rates, self.alpha)
        # Ḡ = 0 only when no loss reaches W; then the gradient is 0 too and the weights stay.
        mean_norm = (weights * unweighted_norms).mean().clamp(min=torch.finfo(gramian.dtype).tiny)
        stepped = weights * torch.exp(weights * gradient * (-self.lr / mean_norm))
        stepped = stepped.clamp(min=MIN_WEIGHT)
        return stepped * (weights.sum() / stepped.sum())

    def get_extra_state(self) -> dict[str, Any]:
        return {"initial_counts": list(self.initial_counts)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.initial_counts = list(state["initial_counts"])
