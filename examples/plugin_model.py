"""An example weightsearch plug-in: a three-task MLP on procedural data, to copy for your own model.

A plug-in is any importable function ``build(options, *, seed, batch_size, device)`` that returns
:class:`weightsearch.trial.TrialComponents`. Name it in a trial config or a sweep spec as
``model: "examples.plugin_model:build"``; ``weightsearch train`` imports it from the current
directory (run it from the repository root) or from any installed package.

The problem: inputs ``x ~ N(0, I_8)``; a fixed random "teacher" (drawn from the seed) defines

- ``position`` (regression): ``tanh(x · A)``, two numbers;
- ``region`` (classification): the quadrant, 0-3, of ``x · B``;
- ``distance`` (regression): ``‖x[:4]‖``, labelled only on every ``label_every``-th training
  batch, to show how a task is left out of ``task_losses`` when a batch carries no label for it.

The model is a shared two-layer trunk with one linear head per task. Options (all optional):
``hidden`` (trunk width, 64), ``dropout`` (after the first trunk layer, 0.0), ``label_every``
(2), ``val_batches`` (4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from weightsearch.errors import UserError
from weightsearch.trial import TrialComponents

INPUT_DIM = 8
REGIONS = 4
DEFAULT_OPTIONS = {"hidden": 64, "dropout": 0.0, "label_every": 2, "val_batches": 4}
# Validation batches are drawn from generator seeds far away from those of the training steps.
VALIDATION_OFFSET = 1 << 40


@dataclass(frozen=True)
class Batch:
    """Inputs and per-task targets; ``distance`` is ``None`` on batches without that label."""

    inputs: torch.Tensor
    position: torch.Tensor
    region: torch.Tensor
    distance: torch.Tensor | None


class MultiTaskMLP(nn.Module):
    """Shared trunk ``Linear-GELU-Dropout-Linear-GELU`` and one linear head per task."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.trunk_in = nn.Linear(INPUT_DIM, hidden)
        self.dropout = nn.Dropout(dropout)
        self.trunk_out = nn.Linear(hidden, hidden)
        self.position_head = nn.Linear(hidden, 2)
        self.region_head = nn.Linear(hidden, REGIONS)
        self.distance_head = nn.Linear(hidden, 1)

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        features = functional.gelu(self.trunk_out(self.dropout(functional.gelu(self.trunk_in(inputs)))))
        return {
            "position": self.position_head(features),
            "region": self.region_head(features),
            "distance": self.distance_head(features).squeeze(-1),
        }


class Teacher:
    """The fixed random functions that define the targets, drawn once from the seed."""

    def __init__(self, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.position_map = torch.randn(INPUT_DIM, 2, generator=generator)
        self.region_map = torch.randn(INPUT_DIM, 2, generator=generator)

    def batch(self, generator_seed: int, batch_size: int, labelled_distance: bool, device: torch.device) -> Batch:
        """A batch drawn on the CPU from ``generator_seed`` (same data on every device), then moved."""
        generator = torch.Generator().manual_seed(generator_seed)
        inputs = torch.randn(batch_size, INPUT_DIM, generator=generator)
        projected = inputs @ self.region_map
        region = (projected[:, 0] > 0).long() * 2 + (projected[:, 1] > 0).long()
        distance = inputs[:, :4].norm(dim=-1) if labelled_distance else None
        return Batch(
            inputs=inputs.to(device),
            position=torch.tanh(inputs @ self.position_map).to(device),
            region=region.to(device),
            distance=None if distance is None else distance.to(device),
        )


def task_losses(model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
    """MSE for the regressions, cross-entropy for the region; ``distance`` only where labelled."""
    outputs = model(batch.inputs)
    losses = {
        "position": functional.mse_loss(outputs["position"], batch.position),
        "region": functional.cross_entropy(outputs["region"], batch.region),
    }
    if batch.distance is not None:
        losses["distance"] = functional.mse_loss(outputs["distance"], batch.distance)
    return losses


def task_metrics(model: nn.Module, batches: Sequence[Batch]) -> dict[str, float]:
    """``position/mse``, ``region/accuracy`` and ``distance/mae`` over the validation batches."""
    squared_error = correct = absolute_error = 0.0
    items = 0
    for batch in batches:
        outputs = model(batch.inputs)
        squared_error += (outputs["position"].float() - batch.position).pow(2).mean(-1).sum().item()
        correct += (outputs["region"].argmax(-1) == batch.region).sum().item()
        absolute_error += (outputs["distance"].float() - batch.distance).abs().sum().item()
        items += batch.inputs.shape[0]
    return {
        "position/mse": squared_error / items,
        "region/accuracy": correct / items,
        "distance/mae": absolute_error / items,
    }


def build(options: Mapping[str, Any], *, seed: int, batch_size: int, device: torch.device) -> TrialComponents:
    """The weightsearch model factory: model, deterministic data and losses for the three tasks."""
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise UserError(
            f"options: unknown option(s) {unknown} for examples.plugin_model; valid: {sorted(DEFAULT_OPTIONS)}"
        )
    settings = {**DEFAULT_OPTIONS, **options}
    teacher = Teacher(seed)
    # Initialise from the seed alone, on the CPU, so a trial builds the same weights on any device.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MultiTaskMLP(int(settings["hidden"]), float(settings["dropout"])).to(device)
    label_every = int(settings["label_every"])
    # Mixing the seed into each step's generator seed keeps different seeds' data streams apart.
    stream = seed * 1_000_003

    def train_batch(step: int) -> Batch:
        return teacher.batch(stream + step, batch_size, step % label_every == 0, device)

    val_batches = [
        teacher.batch(stream + VALIDATION_OFFSET + index, batch_size, True, device)
        for index in range(int(settings["val_batches"]))
    ]
    return TrialComponents(
        model=model,
        tasks=("position", "region", "distance"),
        train_batch=train_batch,
        val_batches=val_batches,
        task_losses=task_losses,
        task_metrics=task_metrics,
        shared_parameters=lambda model: list(model.trunk_out.parameters()),
        loss_forms={"position": "regression", "region": "classification", "distance": "regression"},
    )
