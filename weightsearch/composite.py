"""The composite training loss: task losses × normalizer × weighting strategy → total + per-step record."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cached_property

import torch
from torch import nn

from weightsearch.contracts import TOTAL_LOSS, task_metric, task_pair
from weightsearch.errors import NonFiniteLossError, UserError
from weightsearch.weighting import (
    LossNormalizer,
    NoNormalization,
    WeightingStrategy,
    task_gramian,
)


class LossRecord:
    """What one step of a :class:`CompositeLoss` computed: the total to backpropagate and per-task figures.

    ``normalized``, ``weights`` and ``contributions`` (``weight × normalised loss``) are read back
    from the device on first access, in one transfer, so a step that does not look at them pays
    neither kernels nor a sync. ``grad_norms`` (``‖∇_W L_i‖`` of the raw task loss on the shared
    parameters ``W``) and ``grad_cosines`` (``"a-b"``: cosine of two tasks' gradients, negative when
    they conflict) are empty unless the step ran with ``diagnostics=True``.
    """

    def __init__(
        self,
        total: torch.Tensor,
        raw: dict[str, float],
        normalized: Mapping[str, torch.Tensor],
        weights: Mapping[str, torch.Tensor],
        grad_norms: dict[str, float],
        grad_cosines: dict[str, float],
    ) -> None:
        self.total = total
        self.raw = raw
        self._normalized = normalized
        self._weights = weights
        self.grad_norms = grad_norms
        self.grad_cosines = grad_cosines

    @cached_property
    def _columns(self) -> list[list[float]]:
        """Rows: normalised losses, weights, contributions, then the total (repeated), in one transfer."""
        with torch.no_grad():
            normalized = torch.stack(list(self._normalized.values())).float()
            weights = torch.stack(list(self._weights.values())).float().to(normalized.device)
            total = self.total.float().to(normalized.device).expand_as(normalized)
            return torch.stack([normalized, weights, weights * normalized, total]).tolist()

    @property
    def normalized(self) -> dict[str, float]:
        return dict(zip(self.raw, self._columns[0]))

    @property
    def weights(self) -> dict[str, float]:
        return dict(zip(self.raw, self._columns[1]))

    @property
    def contributions(self) -> dict[str, float]:
        return dict(zip(self.raw, self._columns[2]))

    def metrics(self, prefix: str = "train") -> dict[str, float]:
        """Flat ``{name: value}`` with the metric names the README documents (``train/loss/<task>``, …)."""
        per_task = {
            "loss": self.raw,
            "loss_norm": self.normalized,
            "weight": self.weights,
            "contrib": self.contributions,
            "grad_norm": self.grad_norms,
            "grad_cos": self.grad_cosines,
        }
        metrics = {
            task_metric(prefix, kind, task): value for kind, values in per_task.items() for task, value in values.items()
        }
        metrics[f"{prefix}/{TOTAL_LOSS}"] = self._columns[3][0]
        return metrics


class CompositeLoss(nn.Module):
    """``total = strategy(normalizer(L_1..L_T))``; ``parameters()`` are those the main optimizer must train.

    The tasks are the strategy's. Move the module to the training device (``.to(device)``) so its
    state lives next to the losses; ``state_dict`` carries the strategy's and the normalizer's state.
    """

    def __init__(self, strategy: WeightingStrategy, normalizer: LossNormalizer | None = None) -> None:
        super().__init__()
        normalizer = NoNormalization(strategy.tasks) if normalizer is None else normalizer
        if normalizer.tasks != strategy.tasks:
            raise ValueError(
                f"normalizer tasks {list(normalizer.tasks)} differ from strategy tasks {list(strategy.tasks)}"
            )
        if strategy.needs_positive_losses and not normalizer.keeps_sign:
            raise UserError(
                f"normalization {normalizer.name!r} can make losses negative, which strategy {strategy.name!r} "
                "cannot weigh (it takes ratios or logarithms of the losses): use normalization none, initial or ema"
            )
        self.strategy = strategy
        self.normalizer = normalizer

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.strategy.tasks

    def forward(
        self,
        losses: Mapping[str, torch.Tensor],
        step: int,
        shared_parameters: Sequence[torch.Tensor] | None = None,
        diagnostics: bool = False,
    ) -> LossRecord:
        """Weigh one step's task losses (present tasks only) and record the figures of the step.

        Raises:
            NonFiniteLossError: a task loss is NaN or infinite (checked before any state changes).
            ValueError: an unknown task name, a non-scalar or missing loss, or missing ``shared_parameters``.
        """
        present = self._order(losses)
        # The one host sync of a step without diagnostics: the raw values, needed for the check.
        with torch.no_grad():
            raw_values = torch.stack(list(present.values())).float().tolist()
        raw = dict(zip(present, raw_values))
        for task, value in raw.items():
            if not math.isfinite(value):
                raise NonFiniteLossError(task, step, value)
        needs_parameters = self.strategy.needs_shared_parameters or diagnostics
        if needs_parameters and shared_parameters is None:
            raise ValueError(
                f"shared_parameters are required (strategy {self.strategy.name!r} needs them: "
                f"{self.strategy.needs_shared_parameters}, diagnostics: {diagnostics})"
            )
        grad_norms, grad_cosines = self._gradient_diagnostics(present, shared_parameters) if diagnostics else ({}, {})
        normalized = self.normalizer.normalize(present, step)
        total, weights = self.strategy.weigh(
            normalized, step, shared_parameters if self.strategy.needs_shared_parameters else None
        )
        return LossRecord(total, raw, normalized, weights, grad_norms, grad_cosines)

    def _order(self, losses: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The provided losses in task order, after checking names and shapes."""
        for task, loss in losses.items():
            if task not in self.tasks:
                raise ValueError(f"loss for unknown task {task!r}; known tasks: {list(self.tasks)}")
            if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                raise ValueError(f"loss for task {task!r} must be a scalar tensor, got {loss!r}")
        if not losses:
            raise ValueError("no task losses given for this step")
        return {task: losses[task] for task in self.tasks if task in losses}

    @staticmethod
    def _gradient_diagnostics(
        losses: Mapping[str, torch.Tensor], shared_parameters: Sequence[torch.Tensor]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Norm of each raw task loss's gradient on the shared parameters and their pairwise cosines."""
        gramian = task_gramian(torch.stack(list(losses.values())), shared_parameters)
        norms = gramian.diagonal().sqrt()
        # A zero gradient has no direction: its cosines are reported as 0.
        cosines = gramian / (norms[:, None] * norms[None, :]).clamp(min=torch.finfo(gramian.dtype).tiny)
        tasks = list(losses)
        first, second = torch.triu_indices(len(tasks), len(tasks), offset=1).tolist()
        values = torch.cat([norms, cosines[first, second]]).tolist()
        grad_norms = dict(zip(tasks, values[: len(tasks)]))
        grad_cosines = {task_pair(tasks[a], tasks[b]): value for a, b, value in zip(first, second, values[len(tasks) :])}
        return grad_norms, grad_cosines
