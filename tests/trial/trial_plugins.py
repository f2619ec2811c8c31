"""Plug-in factories for the trainer tests, named in configs as ``trial_plugins:<function>``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from examples.plugin_model import build as build_example
from weightsearch.trial import TrialComponents


def build_nan(options: Mapping[str, Any], *, seed: int, batch_size: int, device: torch.device) -> TrialComponents:
    """The example plug-in whose ``options["task"]`` loss is NaN at step ``options["step"]``."""
    task, nan_step = options["task"], options["step"]
    example = build_example({}, seed=seed, batch_size=batch_size, device=device)

    def train_batch(step: int):
        return step, example.train_batch(step)

    def task_losses(model, batch):
        step, inner = batch
        losses = dict(example.task_losses(model, inner))
        if step == nan_step:
            losses[task] = losses[task] * float("nan")
        return losses

    return dataclasses.replace(
        example,
        train_batch=train_batch,
        val_batches=[(None, batch) for batch in example.val_batches],
        task_losses=task_losses,
        task_metrics=lambda model, batches: example.task_metrics(model, [inner for _, inner in batches]),
    )


def build_dict(options: Mapping[str, Any], *, seed: int, batch_size: int, device: torch.device) -> dict:
    """A factory that breaks the contract by returning a plain dict."""
    return {"model": None}


def build_without_tasks(
    options: Mapping[str, Any], *, seed: int, batch_size: int, device: torch.device
) -> TrialComponents:
    """A factory that returns components with no tasks."""
    return dataclasses.replace(build_example({}, seed=seed, batch_size=batch_size, device=device), tasks=())


NOT_CALLABLE = 42
