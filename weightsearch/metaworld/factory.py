"""`build_metaworld`: a VLA policy trial on MetaWorld expert demonstrations, scored by closed-loop success."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch

from weightsearch.contracts import ENV_VALIDATING
from weightsearch.errors import UserError
from weightsearch.metaworld.collection import CollectionSettings, load_or_collect
from weightsearch.metaworld.data import MetaWorldBatch, MetaWorldData
from weightsearch.metaworld.model import PATCHES_PER_SIDE, MetaWorldPolicy
from weightsearch.metaworld.rendering import check_renderer
from weightsearch.metaworld.rollout import success_rates
from weightsearch.metaworld.suite import CAMERAS, resolve_tasks
from weightsearch.metaworld.tasks import offline_metrics, policy_of, shared_parameters, task_losses
# The same five tasks as the reference VLA, so search spaces and strategies carry over unchanged.
from weightsearch.vla.tasks import LOSS_FORMS, TASKS, aux_off
from weightsearch.trial.components import TrialComponents

OPTIONS = (
    "tasks", "episodes", "image_size", "camera", "seed", "horizon", "eval_episodes", "closed_loop", "steps",
    "losses", "cache_dir",
)
CLOSED_LOOP = ("final", "every_eval", "off")
MAX_HORIZON = 500  # MetaWorld's episode length; its envs refuse to step past it


def build_metaworld(
    options: Mapping[str, Any], *, seed: int, batch_size: int, device: torch.device
) -> TrialComponents:
    """Build a MetaWorld VLA trial: cached expert demonstrations, the policy, five tasks, success metrics.

    ``options``: ``tasks`` (``MT10`` or a list of v3 env names), ``episodes`` (expert episodes a
    task, 10; the last fifth are held out), ``image_size`` (64, a multiple of 8), ``camera``
    (``corner``), ``seed`` (of the demonstrations, 0: trials with other seeds share them),
    ``horizon`` (steps an episode, 200), ``eval_episodes`` (closed-loop episodes a task, 3),
    ``closed_loop`` (``final``: rollouts at the last evaluation only, which needs ``steps`` = the
    trial's steps; ``every_eval``; ``off``), ``losses`` (subset of the five task names),
    ``cache_dir`` (default ``~/.cache/weightsearch/metaworld``).
    Reports ``success_rate/<task>`` and ``success_rate`` (the trainer prefixes ``val/``); with
    ``closed_loop: final`` earlier evaluations report ``success_rate`` as NaN (not measured), so
    sweeps must use ``pruner: none`` then.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise UserError(f"options.{unknown[0]} is not an option of the MetaWorld model; valid: {', '.join(OPTIONS)}")
    closed_loop = options.get("closed_loop", "final")
    if closed_loop not in CLOSED_LOOP:
        raise UserError(f"options.closed_loop must be one of {', '.join(CLOSED_LOOP)}, got {closed_loop!r}")
    steps = options.get("steps")
    if closed_loop == "final" and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise UserError(
            "options.steps must be the trial's steps (a positive integer) with closed_loop: final, so the "
            f"model knows its last evaluation; got {steps!r}"
        )
    camera = options.get("camera", "corner")
    if camera not in CAMERAS:
        raise UserError(f"options.camera must be one of {', '.join(CAMERAS)}, got {camera!r}")
    image_size = _positive_int(options, "image_size", 64)
    if image_size % PATCHES_PER_SIDE or image_size < 2 * PATCHES_PER_SIDE:
        raise UserError(
            f"options.image_size must be a multiple of {PATCHES_PER_SIDE} and at least 16, got {image_size}"
        )
    episodes = _positive_int(options, "episodes", 10)
    if episodes < 2:
        raise UserError(
            f"options.episodes must be at least 2 (the last fifth, at least one, is held out), got {episodes}"
        )
    horizon = _positive_int(options, "horizon", 200)
    if horizon > MAX_HORIZON:
        raise UserError(f"options.horizon must be at most {MAX_HORIZON} (MetaWorld's episode length), got {horizon}")
    settings = CollectionSettings(
        tasks=resolve_tasks(options.get("tasks", "MT10")),
        episodes=episodes,
        image_size=image_size,
        camera=camera,
        seed=_int(options, "seed", 0),
        horizon=horizon,
    )
    losses = _losses(options.get("losses", TASKS))
    eval_episodes = _positive_int(options, "eval_episodes", 3)
    cache_dir = options.get("cache_dir")

    # Now, not at the final rollout after a long training: a missing renderer is a setup error.
    check_renderer()
    device = torch.device(device)
    demonstrations = load_or_collect(
        settings, Path(cache_dir).expanduser() if cache_dir else None, write=os.environ.get(ENV_VALIDATING) != "1"
    )
    data = MetaWorldData(demonstrations, settings.tasks, seed=seed, batch_size=batch_size, device=device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MetaWorldPolicy(image_size)
    model.to(device)

    # The step the model last trained on; the trainer evaluates after step `last_step + 1`.
    progress = {"last_step": -1}

    def train_batch(step: int) -> MetaWorldBatch:
        progress["last_step"] = step
        return data.batch(step)

    def task_metrics(model: MetaWorldPolicy, val_batches: Sequence[MetaWorldBatch]) -> dict[str, float]:
        metrics = offline_metrics(model, val_batches, losses, settings.tasks)
        if closed_loop == "final" and progress["last_step"] + 1 != steps:
            # Not measured at this evaluation. The key is still reported: Ray Tune requires the
            # objective in every result, and `weightsearch validate` learns metric names from an
            # evaluation before training.
            metrics["success_rate"] = math.nan
        elif closed_loop != "off":
            metrics.update(
                success_rates(
                    policy_of(model),
                    settings.tasks,
                    episodes=eval_episodes,
                    seed=settings.seed,
                    image_size=image_size,
                    camera=camera,
                    horizon=horizon,
                )
            )
        return metrics

    return TrialComponents(
        model=model,
        tasks=losses,
        train_batch=train_batch,
        val_batches=data.validation,
        task_losses=partial(task_losses, tasks=losses),
        task_metrics=task_metrics,
        shared_parameters=shared_parameters,
        loss_forms={task: LOSS_FORMS[task] for task in losses},
        baselines={"aux_off": aux_off(tuple(losses))},
    )


def _losses(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not value or not all(isinstance(task, str) for task in value):
        raise UserError(f"options.losses must be a non-empty list of task names from {', '.join(TASKS)}, got {value!r}")
    unknown = [task for task in value if task not in TASKS]
    if unknown:
        raise UserError(
            f"options.losses: {unknown[0]!r} is not a task of the MetaWorld model; valid: {', '.join(TASKS)}"
        )
    return tuple(task for task in TASKS if task in value)


def _int(options: Mapping[str, Any], key: str, default: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"options.{key} must be an integer, got {value!r}")
    return value


def _positive_int(options: Mapping[str, Any], key: str, default: int) -> int:
    value = _int(options, key, default)
    if value < 1:
        raise UserError(f"options.{key} must be a positive integer, got {value!r}")
    return value
