"""`build_reference`: the reference VLA trial from a spec's ``options`` (the built-in `ModelFactory`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from weightsearch.errors import UserError
from weightsearch.trial.components import TrialComponents
from weightsearch.vla import data as vla_data
from weightsearch.vla.model import SIZES, ReferenceVLA
from weightsearch.vla.tasks import LOSS_FORMS, TASKS, aux_off, shared_parameters, task_losses, task_metrics


@dataclass(frozen=True)
class _DataBudget:
    action_examples: int
    caption_examples: int
    validation_examples: int


# A small action-labelled set beside a large caption set, as in real VLA co-training.
_DATA_BUDGETS = {
    "tiny": _DataBudget(action_examples=128, caption_examples=1_000, validation_examples=64),
    "small": _DataBudget(action_examples=300, caption_examples=10_000, validation_examples=256),
    "base": _DataBudget(action_examples=1_000, caption_examples=40_000, validation_examples=512),
}
OPTIONS = ("size", "tasks", "caption_ratio", "action_examples", "caption_examples")
DEFAULT_SIZE = "small"
DEFAULT_CAPTION_RATIO = 0.5


def build_reference(
    options: Mapping[str, Any], *, seed: int, batch_size: int, device: torch.device
) -> TrialComponents:
    """Build the reference VLA, its procedural data and its five tasks for one trial.

    ``options``: ``size`` (tiny | small | base), ``tasks`` (subset of the five task names),
    ``caption_ratio`` (fraction of each batch that is label-free caption items, in [0, 1)),
    ``action_examples`` and ``caption_examples`` (dataset sizes; defaults depend on the size).
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UserError(
            f"options.{unknown[0]} is not an option of the reference model; valid options: {', '.join(OPTIONS)}"
        )
    size = options.get("size", DEFAULT_SIZE)
    if not isinstance(size, str) or size not in SIZES:
        raise UserError(f"options.size must be one of {', '.join(SIZES)}, got {size!r}")
    tasks = _tasks(options.get("tasks", TASKS))
    caption_ratio = options.get("caption_ratio", DEFAULT_CAPTION_RATIO)
    if isinstance(caption_ratio, bool) or not isinstance(caption_ratio, (int, float)) or not 0 <= caption_ratio < 1:
        raise UserError(f"options.caption_ratio must be a number in [0, 1), got {caption_ratio!r}")
    budget = _DATA_BUDGETS[size]
    action_examples = _count(options, "action_examples", budget.action_examples, minimum=1)
    # Half are single-object caption images, half caption scenes: both pools need an item.
    caption_examples = _count(options, "caption_examples", budget.caption_examples, minimum=2)

    counts = _batch_counts(tasks, caption_ratio, batch_size)
    device = torch.device(device)
    data = vla_data.ReferenceData(
        seed=seed,
        action_examples=action_examples,
        caption_examples=caption_examples,
        validation_examples=budget.validation_examples,
        device=device,
    )
    # Initialise on the CPU from the trial seed alone, so a trial builds the same weights on any device.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(vla_data.derived_seed(seed, "model"))
        model = ReferenceVLA(SIZES[size])
    model.to(device)

    return TrialComponents(
        model=model,
        tasks=tasks,
        train_batch=lambda step: data.batch(step, *counts),
        val_batches=data.validation,
        task_losses=partial(task_losses, tasks=tasks),
        task_metrics=partial(task_metrics, tasks=tasks),
        shared_parameters=shared_parameters,
        loss_forms={task: LOSS_FORMS[task] for task in tasks},
        baselines={"aux_off": aux_off(tasks)},
    )


def _tasks(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(task, str) for task in value):
        raise UserError(
            f"options.tasks must be a non-empty list of task names from {', '.join(TASKS)}, got {value!r}"
        )
    unknown = [task for task in value if task not in TASKS]
    if unknown:
        raise UserError(
            f"options.tasks: {unknown[0]!r} is not a task of the reference model; valid tasks: {', '.join(TASKS)}"
        )
    # Canonical order and no repeats: task order names metrics and weights.
    return tuple(task for task in TASKS if task in value)


def _count(options: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"options.{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _batch_counts(tasks: tuple[str, ...], caption_ratio: float, batch_size: int) -> tuple[int, int, int]:
    """Items per batch: (action items, caption images, caption scenes)."""
    wants_images = "align" in tasks
    wants_scenes = "recon_patch" in tasks or "recon_token" in tasks
    caption_count = round(caption_ratio * batch_size) if wants_images or wants_scenes else 0
    action_count = batch_size - caption_count
    if action_count < 1 or (caption_ratio > 0 and caption_count < 1 and (wants_images or wants_scenes)):
        raise UserError(
            f"batch_size {batch_size} with options.caption_ratio {caption_ratio} leaves no room for "
            "both action and caption items: raise batch_size"
        )
    if wants_images and wants_scenes:
        image_count = caption_count // 2
        return action_count, image_count, caption_count - image_count
    if wants_images:
        return action_count, caption_count, 0
    return action_count, 0, caption_count
