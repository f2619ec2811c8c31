"""The training loop of one trial: its seeds in lockstep, composite loss, AdamW, periodic evaluation, checkpoint and report."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weightsearch.composite import CompositeLoss
from weightsearch.config.trial import TrialConfig
from weightsearch.contracts import RESULT_STEP, RESULT_TRAIN_SECONDS
from weightsearch.errors import UserError
from weightsearch.trial.checkpoint import load_checkpoint, replica_states, save_checkpoint, seed_everything
from weightsearch.trial.components import TrialComponents
from weightsearch.trial.device import resolve_device
from weightsearch.trial.plugin import build_components
from weightsearch.trial.replica import Replica, seed_means
from weightsearch.trial.schedule import warmup_cosine
from weightsearch.weighting import (
    NORMALIZERS,
    make_normalizer,
    make_strategy,
    strategy_arguments,
    strategy_class,
)

Report = Callable[[dict[str, float], Path | None], None]
"""``report(metrics, checkpoint_dir_or_None)``, called at every report step."""
Progress = Callable[[int, int], None]
"""``progress(done_steps, total_steps)``, called after every step (every seed's: steps × ``repeats`` in all)."""


def train(
    config: TrialConfig,
    *,
    report: Report | None = None,
    checkpoint_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    progress: Progress | None = None,
) -> dict[str, float]:
    """Train ``config`` and return the metrics of its last report.

    At every ``eval_every``-th step and at the last step the trainer evaluates, writes a checkpoint
    ``checkpoint_dir/step_<N>/`` (when ``checkpoint_dir`` is given) and calls ``report(metrics,
    checkpoint)``. ``metrics``: ``train/…`` averaged over the steps since the previous report (a
    task over the steps that labelled it), that step's gradient diagnostics, ``val/…``, ``step``
    (steps done) and ``time/train_s`` (seconds in training steps, across resumes). With ``repeats``
    R > 1 the trial trains seeds ``seed … seed+R-1`` in lockstep (see :mod:`~weightsearch.trial.replica`):
    each metric is the mean over the seeds, each seed's value is under ``seed<k>/<metric>`` too, and
    ``time/train_s`` counts every seed's steps. ``resume_from`` (a checkpoint directory) continues a
    trial exactly where it stopped. Raises ``UserError`` for a bad configuration before the first
    step and ``NonFiniteLossError`` when a task loss is NaN/inf.
    """
    device = resolve_device(config.device)
    _check_registered_names(config)
    replicas = [build_replica(config, seed, device) for seed in range(config.seed, config.seed + config.repeats)]

    start_step, train_seconds, metrics = 0, 0.0, {}
    if resume_from is not None:
        state = load_checkpoint(resume_from)
        if state["step"] > config.steps:
            raise UserError(
                f"resume_from: the checkpoint is at step {state['step']}, past steps={config.steps}; "
                "raise steps or resume from an earlier checkpoint"
            )
        states = replica_states(state)
        if len(states) != len(replicas):
            raise UserError(
                f"resume_from: the checkpoint holds {len(states)} seed(s), the config has repeats={config.repeats}; "
                "resume with the repeats it was trained with"
            )
        for replica, replica_state in zip(replicas, states):
            replica.load_state_dict(replica_state)
        start_step, train_seconds, metrics = state["step"], state["train_seconds"], state["metrics"]

    # Progress counts every seed's steps: between two reports the seeds train their blocks in turn.
    seed_steps_done = itertools.count(start_step * config.repeats + 1)

    def step_done() -> None:
        if progress is not None:
            progress(next(seed_steps_done), config.steps * config.repeats)

    report_steps = _report_steps(start_step, config)
    for block_start, done in zip([start_step, *report_steps], report_steps):
        per_seed = []
        for replica in replicas:
            train_seconds += replica.train(range(block_start, done), diagnostics=config.diagnostics, after_step=step_done)
            per_seed.append(replica.report())
        metrics = {**seed_means(per_seed), RESULT_STEP: float(done), RESULT_TRAIN_SECONDS: train_seconds}
        checkpoint = None
        if checkpoint_dir is not None:
            # The averages were just emptied, so a checkpoint at a report step holds no partial averages.
            checkpoint = save_checkpoint(
                Path(checkpoint_dir),
                done,
                {
                    "step": done,
                    "replicas": [replica.state_dict() for replica in replicas],
                    "train_seconds": train_seconds,
                    "metrics": metrics,
                },
            )
        if report is not None:
            report(dict(metrics), checkpoint)
    return dict(metrics)


def _report_steps(start_step: int, config: TrialConfig) -> list[int]:
    """The steps after ``start_step`` at which the trial evaluates and reports: every ``eval_every``-th and the last."""
    return [done for done in range(start_step + 1, config.steps + 1) if done % config.eval_every == 0 or done == config.steps]


def build_replica(config: TrialConfig, seed: int, device: torch.device) -> Replica:
    """Seed ``seed``'s copy of the trial: generators seeded, then its model, data, composite loss, optimizer, schedule."""
    seed_everything(seed)
    components = build_components(config.model, config.options, seed=seed, batch_size=config.batch_size, device=device)
    composite = build_composite(config, components).to(device)
    optimizer = build_optimizer(config, components.model, composite)
    scheduler = warmup_cosine(optimizer, config.steps)
    return Replica(components, composite, optimizer, scheduler, grad_clip=config.grad_clip, device=device)


def _check_registered_names(config: TrialConfig) -> None:
    """Reject an unknown strategy or normalizer before the (possibly slow) model is built."""
    try:
        strategy_class(config.strategy)
    except UserError as error:
        raise UserError(f"trial config field 'strategy': {error}") from None
    if config.normalization not in NORMALIZERS:
        raise UserError(
            f"trial config field 'normalization': unknown normalizer {config.normalization!r}; "
            f"valid: {sorted(NORMALIZERS)}"
        )


def build_composite(config: TrialConfig, components: TrialComponents) -> CompositeLoss:
    """The strategy and normalizer the config names, for the factory's tasks, as one ``CompositeLoss``."""
    strategy_params = _with_loss_forms(config, components.loss_forms)
    try:
        strategy = make_strategy(config.strategy, components.tasks, **strategy_params)
    except UserError as error:
        raise UserError(f"trial config field 'strategy_params': {error}") from error
    try:
        normalizer = make_normalizer(config.normalization, components.tasks, **config.normalization_params)
    except UserError as error:
        raise UserError(f"trial config field 'normalization_params': {error}") from error
    return CompositeLoss(strategy, normalizer)


def _with_loss_forms(config: TrialConfig, loss_forms: Mapping[str, str]) -> dict[str, Any]:
    """The strategy's parameters plus the factory's ``loss_forms`` when the strategy takes ``forms``.

    Decided from the constructor's signature, not the strategy's name, so a new strategy that
    takes ``forms`` gets them without a change here; a ``forms`` in the config wins.
    """
    params = dict(config.strategy_params)
    accepted = strategy_arguments(strategy_class(config.strategy))
    if "forms" in accepted and "forms" not in params:
        params["forms"] = dict(loss_forms)
    return params


def build_optimizer(config: TrialConfig, model: nn.Module, composite: CompositeLoss) -> torch.optim.AdamW:
    """AdamW; decay only the model's matrices (as nanoGPT), never biases, norms or the strategy's parameters."""
    model_parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    groups = [
        {"params": [p for p in model_parameters if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in model_parameters if p.dim() < 2], "weight_decay": 0.0},
        {"params": [p for p in composite.parameters() if p.requires_grad], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([group for group in groups if group["params"]], lr=config.lr)
