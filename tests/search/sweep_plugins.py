"""A tiny two-task regression model for the sweep tests, named in configs as ``sweep_plugins:build``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from weightsearch.trial import TrialComponents

FEATURES = 4


def build(options: Mapping[str, Any], *, seed: int, batch_size: int, device: torch.device) -> TrialComponents:
    """Linear regression on two targets of fixed random features; ``options["nan_at_step"]`` poisons a step."""
    generator = torch.Generator().manual_seed(seed)
    truth = torch.randn(FEATURES, 2, generator=generator)
    model = nn.Sequential(nn.Linear(FEATURES, FEATURES), nn.Linear(FEATURES, 2)).to(device)
    nan_at_step = options.get("nan_at_step")

    def batch(index: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        inputs = torch.randn(batch_size, FEATURES, generator=torch.Generator().manual_seed(seed * 100_003 + index))
        return index, inputs.to(device), (inputs @ truth).to(device)

    def task_losses(model: nn.Module, data: tuple[int, torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        index, inputs, targets = data
        errors = (model(inputs) - targets) ** 2
        losses = {"main": errors[:, 0].mean(), "aux": errors[:, 1].mean()}
        if index == nan_at_step:
            losses["aux"] = losses["aux"] * float("nan")
        return losses

    def task_metrics(model: nn.Module, batches: list[Any]) -> dict[str, float]:
        losses = [task_losses(model, data) for data in batches]
        return {f"{task}/mse": float(sum(loss[task] for loss in losses) / len(losses)) for task in ("main", "aux")}

    return TrialComponents(
        model=model,
        tasks=("main", "aux"),
        train_batch=batch,
        val_batches=[batch(-1 - index) for index in range(2)],
        task_losses=task_losses,
        task_metrics=task_metrics,
        shared_parameters=lambda model: list(model[0].parameters()),
    )
