"""Adapter that takes task weights from torchjd's Jacobian-descent aggregators (optional dependency)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from weightsearch.errors import UserError
from weightsearch.weighting._base import WeightingStrategy
from weightsearch.weighting._gradients import task_gramian, task_jacobian
from weightsearch.weighting._indexing import PresentTasks, scatter
from weightsearch.weighting._params import check_mapping
from weightsearch.weighting._registry import register

AGGREGATORS = {
    "upgrad": "UPGrad",
    "mgda": "MGDA",
    "cagrad": "CAGrad",
    "nash_mtl": "NashMTL",
    "pcgrad": "PCGrad",
    "dualproj": "DualProj",
    "imtlg": "IMTLG",
    "aligned_mtl": "AlignedMTL",
    "fairgrad": "FairGrad",
    "gradvac": "GradVac",
}
"""Our names → torchjd 0.18 aggregator classes, each a ``WeightedAggregator`` whose weighting gives task weights."""


@register("torchjd")
class TorchJDWeighting(WeightingStrategy):
    """``L = Σ_i w_i L_i`` with ``w = weighting(J)`` (detached) from a torchjd aggregator, ``J_i = ∇_W L_i``.

    torchjd (Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024) aggregates
    the Jacobian of the task losses; most of its aggregators are "a weighting of the Jacobian (via
    its Gramian) then ``Σ_i w_i J_i``". We compute ``J`` on the shared parameters ``W`` only (as
    GradNorm does) and apply the weights to the whole loss, so the rest of the network sees the same
    weighted sum; this approximates full Jacobian descent at one gradient per task on ``W``.
    ``aggregator`` names the method (``AGGREGATORS``), ``options`` are its torchjd constructor
    arguments (``{"c": 0.4}`` for cagrad; nash_mtl's ``n_tasks`` is filled in). Some need extra
    packages (upgrad/dualproj: ``torchjd[quadprog_projector]``; cagrad, nash_mtl: cvxpy). Stateful
    aggregators (nash_mtl, gradvac) keep torchjd's internal state, which is not checkpointed, and
    need every task at every step.
    """

    needs_shared_parameters = True

    def __init__(self, tasks: Sequence[str], *, aggregator: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(tasks)
        try:
            aggregation = importlib.import_module("torchjd.aggregation")
            stateful_base = importlib.import_module("torchjd").Stateful
        except ImportError as error:
            raise UserError(
                f"{self.name}: the torchjd package is not installed ({error}); "
                'install it with: pip install "weightsearch[torchjd]"'
            ) from None
        if aggregator not in AGGREGATORS:
            raise UserError(
                f"{self.name}: parameter 'aggregator' must be one of {sorted(AGGREGATORS)}, got {aggregator!r}"
            )
        arguments = check_mapping(self.name, "options", options)
        if aggregator == "nash_mtl":
            arguments.setdefault("n_tasks", len(self.tasks))
        try:
            self.aggregator = getattr(aggregation, AGGREGATORS[aggregator])(**arguments)
        except ImportError as error:
            raise UserError(f"{self.name}: aggregator {aggregator!r} needs extra packages: {error}") from None
        except (TypeError, ValueError) as error:
            raise UserError(f"{self.name}: parameter 'options' is invalid for {aggregator!r}: {error}") from None
        self.aggregator_name = aggregator
        self.stateful = isinstance(self.aggregator, stateful_base)
        # Most aggregators weigh the Gramian J Jᵀ ([T, T]), cheaper to form than to pass J ([T, n]).
        self.gramian_weighting = getattr(self.aggregator, "gramian_weighting", None)
        self.register_buffer("weights", torch.ones(len(self.tasks)))

    def _weigh(
        self, present: PresentTasks, step: int, shared_parameters: Sequence[torch.Tensor] | None
    ) -> torch.Tensor:
        if self.stateful and len(present.positions) != len(self.tasks):
            raise ValueError(
                f"torchjd aggregator {self.aggregator_name!r} keeps per-task state and needs every task "
                f"at every step; step {step} has only {[self.tasks[position] for position in present.positions]}"
            )
        with torch.no_grad():
            if self.gramian_weighting is not None:
                weights = self.gramian_weighting(task_gramian(present.losses, shared_parameters))
            else:
                weights = self.aggregator.weighting(task_jacobian(present.losses, shared_parameters))
            weights = weights.to(device=self.weights.device, dtype=self.weights.dtype)
            self.weights = scatter(weights, present.selection, self.weights)
        return weights
