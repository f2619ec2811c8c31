"""FAMO: fast adaptive multitask optimisation with O(1) extra cost (Liu et al., 2023)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from weightsearch.weighting._base import WeightingStrategy
from weightsearch.weighting._indexing import PresentTasks, scatter
from weightsearch.weighting._params import check_number
from weightsearch.weighting._registry import register

BETAS = (0.9, 0.999)
"""Adam's moment decays for the logits: ``torch.optim.Adam``'s defaults, which the authors' code and LibMTL keep."""

ADAM_EPS = 1e-8
"""Adam's denominator term, ``torch.optim.Adam``'s default."""


@register("famo")
class FAMO(WeightingStrategy):
    """``L = Σ_i w_i L_i``, ``w_i = P c_t z_i / L_i``, ``z = softmax(ξ)``, ``c_t = (Σ_j z_j / L_j)^{-1}``, w detached.

    Liu, Liu, Jin, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023,
    Algorithm 1. Its update direction ``d_t = Σ_i c_t z_i ∇L_i / L_i`` is the gradient of
    ``c_t Σ_i z_i log L_i`` with ``c_t`` held constant; returning ``Σ_i w_i L_i`` with the weights
    detached gives that gradient times ``P`` (the number of tasks present) while ``weight × loss``
    stays the task's share of the total. The paper's weights sum to 1; ours average 1, as every
    normalised strategy's do, so the total has the scale of ``P`` equally weighted tasks.
    (``w = P · softmax(ξ - log L)``, the form computed.) The logits follow the authors' code and
    LibMTL, not Algorithm 1's plain step: Adam (``lr``, ``BETAS``, ``ADAM_EPS``) with L2 weight decay
    ``γ`` (``torch.optim.Adam(weight_decay=γ)``) on the gradient ``δ = J_z(ξ)^T (log L(t-1) - log L(t))``,
    so a task whose log-loss fell faster than the ``z``-weighted average loses weight. A plain step at
    ``lr = 0.025`` moves the logits ~50× less and leaves FAMO at ``1/L`` weighting. The losses used
    are the (normalised) losses handed in at two consecutive steps, i.e. the next step's mini-batch
    stands in for ``L(θ_{t+1})``; the official code instead spends an extra forward pass on the same
    batch. This keeps the cost O(1) at the price of mini-batch noise in ``δ``. Only tasks present at
    both steps update (a softmax restricted to them, each with its own Adam step count), so absent
    tasks keep their logits and moments. Losses are clamped at ``eps`` before the logarithm (the
    reference code adds 1e-8).
    """

    needs_positive_losses = True

    def __init__(self, tasks: Sequence[str], *, lr: float = 0.025, gamma: float = 0.001, eps: float = 1e-8) -> None:
        super().__init__(tasks)
        self.lr = check_number(self.name, "lr", lr, positive=True)
        self.gamma = check_number(self.name, "gamma", gamma, minimum=0.0)
        self.eps = check_number(self.name, "eps", eps, positive=True)
        count = len(self.tasks)
        self.register_buffer("logits", torch.zeros(count))
        self.register_buffer("previous_log_losses", torch.zeros(count))
        self.register_buffer("weights", torch.ones(count))
        # Adam's state per logit: first and second moments and the number of steps taken (a tensor, so
        # the bias corrections are computed where the logits live, without a host-to-device copy).
        self.register_buffer("first_moments", torch.zeros(count))
        self.register_buffer("second_moments", torch.zeros(count))
        self.register_buffer("adam_steps", torch.zeros(count))
        # Which tasks were present at the previous step: a host-side fact, kept on the host.
        self.previous_positions: tuple[int, ...] = ()

    def _weigh(
        self, present: PresentTasks, step: int, shared_parameters: Sequence[torch.Tensor] | None
    ) -> torch.Tensor:
        positions, selection = present.positions, present.selection
        with torch.no_grad():
            log_losses = present.losses.clamp(min=self.eps).log()
            self._update_logits(positions, log_losses)
            weights = len(positions) * torch.softmax(self.logits[selection] - log_losses, dim=0)
            self.previous_log_losses = scatter(log_losses, selection, self.previous_log_losses)
            self.weights = scatter(weights, selection, self.weights)
            self.previous_positions = positions
        return weights

    def _update_logits(self, positions: Sequence[int], log_losses: torch.Tensor) -> None:
        """The ``ξ`` step for tasks present now and at the previous step, from their change of log-loss."""
        participating = [position for position in positions if position in self.previous_positions]
        if not participating:
            return
        selection = self._selection(participating, self.logits.device)
        within_present = [positions.index(position) for position in participating]
        current = log_losses[self._selection(within_present, log_losses.device, size=len(positions))]
        logits = self.logits[selection]
        probabilities = torch.softmax(logits, dim=0)
        decrease = self.previous_log_losses[selection] - current
        weighted = probabilities * decrease
        # J_z^T v for z = softmax(ξ): z ⊙ v - z (z·v).
        delta = torch.addcmul(weighted, probabilities, weighted.sum(), value=-1.0)
        stepped, first, second, steps = self._adam_step(
            logits, delta, self.first_moments[selection], self.second_moments[selection], self.adam_steps[selection]
        )
        self.logits = scatter(stepped, selection, self.logits)
        self.first_moments = scatter(first, selection, self.first_moments)
        self.second_moments = scatter(second, selection, self.second_moments)
        self.adam_steps = scatter(steps, selection, self.adam_steps)

    def _adam_step(
        self,
        logits: torch.Tensor,
        gradient: torch.Tensor,
        first: torch.Tensor,
        second: torch.Tensor,
        steps: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        """One ``torch.optim.Adam(lr, BETAS, ADAM_EPS, weight_decay=γ)`` step: new logits, moments and step counts."""
        beta1, beta2 = BETAS
        gradient = gradient.add(logits, alpha=self.gamma)
        first = first.lerp(gradient, 1 - beta1)
        second = second.mul(beta2).addcmul(gradient, gradient, value=1 - beta2)
        steps = steps + 1
        # 1 - β^n as -expm1(n log β): in float32, 1 - 0.999 would lose four digits to cancellation.
        step_sizes = self.lr / -torch.expm1(steps * math.log(beta1))
        denominators = (second.sqrt() / (-torch.expm1(steps * math.log(beta2))).sqrt()).add(ADAM_EPS)
        return logits - step_sizes * first / denominators, first, second, steps

    def get_extra_state(self) -> dict[str, Any]:
        return {"previous_positions": list(self.previous_positions)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.previous_positions = tuple(state["previous_positions"])
