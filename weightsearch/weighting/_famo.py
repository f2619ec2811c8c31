"""FAMO: fast adaptive multitask optimisation with O(1) extra cost (Liu et al., 2023)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from weightsearch.weighting._base import WeightingStrategy
from weightsearch.weighting._indexing import PresentTasks, scatter
from weightsearch.weighting._params import check_number
from weightsearch.weighting._registry import register


@register("famo")
class FAMO(WeightingStrategy):
    """``L = Σ_i w_i L_i``, ``w_i = c_t z_i / L_i``, ``z = softmax(ξ)``, ``c_t = (Σ_j z_j / L_j)^{-1}`` (w detached).

    Liu, Liu, Jin, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023,
    Algorithm 1. Its update direction ``d_t = Σ_i c_t z_i ∇L_i / L_i`` is the gradient of
    ``c_t Σ_i z_i log L_i`` with ``c_t`` held constant; returning ``Σ_i w_i L_i`` with the weights
    detached gives the same gradient while ``weight × loss`` stays the task's share of the total.
    (``w = softmax(ξ - log L)``, the form computed.) The logits follow ``ξ ← ξ - lr·(δ + γ ξ)``,
    ``δ = J_z(ξ)^T (log L(t-1) - log L(t))``: a task whose log-loss fell faster than the
    ``z``-weighted average loses weight. The losses used are the (normalised) losses handed in at two
    consecutive steps, i.e. the next step's mini-batch stands in for the paper's ``L(θ_{t+1})``; the
    official code instead spends an extra forward pass on the same batch. This keeps the cost O(1)
    at the price of mini-batch noise in ``δ``, which the small ``lr`` averages out. Only tasks present
    at both steps update (a softmax restricted to them), so absent tasks keep their logits. Losses
    are clamped at ``eps`` before the logarithm.
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
        self.register_buffer("weights", torch.full((count,), 1.0 / count))
        # Which tasks were present at the previous step: a host-side fact, kept on the host.
        self.previous_positions: tuple[int, ...] = ()

    def _weigh(
        self, present: PresentTasks, step: int, shared_parameters: Sequence[torch.Tensor] | None
    ) -> torch.Tensor:
        positions, selection = present.positions, present.selection
        with torch.no_grad():
            log_losses = present.losses.clamp(min=self.eps).log()
            self._update_logits(positions, log_losses)
            weights = torch.softmax(self.logits[selection] - log_losses, dim=0)
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
        stepped = torch.add(logits * (1 - self.lr * self.gamma), delta, alpha=-self.lr)
        self.logits = scatter(stepped, selection, self.logits)

    def get_extra_state(self) -> dict[str, Any]:
        return {"previous_positions": list(self.previous_positions)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.previous_positions = tuple(state["previous_positions"])
