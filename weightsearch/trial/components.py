"""The plug-in contract: what a model factory hands the trainer.

The reference VLA and a user's own model (``spec: model: "my_pkg.my_mod:build"``) both return a
:class:`TrialComponents`; the same trainer then runs either. Nothing here knows about Ray, Optuna
or MLflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

Batch = Any
"""Whatever the factory's own loss and metric functions understand (a dataclass of tensors, a dict)."""


@dataclass(frozen=True)
class TrialComponents:
    """A model, its data and its task losses, ready for the trainer.

    Attributes:
        model: the network; the trainer moves nothing, the factory builds it on ``device``.
        tasks: task names, in a stable order (they name metrics and weights, e.g. ``"action"``).
        train_batch: returns the training batch for a step index, on the device. It must be a
            deterministic function of the step (and the factory's seed) so that a trial resumed
            from a checkpoint sees exactly the data an uninterrupted one would.
        val_batches: the validation batches, on the device, evaluated at every ``eval_every``.
        task_losses: ``(model, batch) -> {task: scalar loss}``. A batch that carries no labels for
            a task omits that task (co-training mixes action-labelled and label-free items).
        task_metrics: ``(model, val_batches) -> {"<task>/<metric>": float}`` (e.g.
            ``"action/mse"``); the trainer prefixes ``val/``. Called under ``torch.no_grad``.
        shared_parameters: ``model -> parameters`` of the last shared layer, used by GradNorm and
            by the gradient-conflict diagnostics.
        loss_forms: ``{task: "regression" | "classification"}`` for strategies whose formula
            depends on it (uncertainty weighting); tasks left out count as regression.
        baselines: named trial-config fields the model suggests as baselines for confirmation
            (e.g. the reference's ``aux_off``: auxiliary λ at 0); ``equal`` (every λ = 1) is always one.
    """

    model: nn.Module
    tasks: tuple[str, ...]
    train_batch: Callable[[int], Batch]
    val_batches: Sequence[Batch]
    task_losses: Callable[[nn.Module, Batch], Mapping[str, torch.Tensor]]
    task_metrics: Callable[[nn.Module, Sequence[Batch]], Mapping[str, float]]
    shared_parameters: Callable[[nn.Module], Sequence[nn.Parameter]]
    loss_forms: Mapping[str, str] = field(default_factory=dict)
    baselines: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class ModelFactory(Protocol):
    """``build(options, seed, batch_size, device) -> TrialComponents``; named in a spec as ``module:function``."""

    def __call__(
        self, options: Mapping[str, Any], *, seed: int, batch_size: int, device: torch.device
    ) -> TrialComponents: ...
