"""The Ray Tune function trainable: one trial = one ``weightsearch.trial.train`` run on a Ray worker."""

from __future__ import annotations

import contextlib
import copy
import logging
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

import torch
from ray import tune

from weightsearch.config import TrialConfig
from weightsearch.contracts import CONFIG_RESUME_FROM, CONFIG_TRIAL, RESULT_STEP
from weightsearch.trial import train


class TrialError(RuntimeError):
    """A trial's exception that Ray could not carry, as text: first line "<type>: <message>", then the traceback."""


def with_resources(cpus: float, gpus: float) -> Any:
    """:func:`run_trial` asking Ray for ``cpus`` CPUs and ``gpus`` GPUs a trial (fractions pack trials)."""
    return tune.with_resources(run_trial, {"cpu": cpus, "gpu": gpus})


def run_trial(config: dict[str, Any]) -> None:
    """Train the config's resolved trial (``CONFIG_TRIAL``), reporting each evaluation and checkpoint to Ray Tune.

    Any exception (``NonFiniteLossError`` included) ends the trial as errored; Ray records it and
    the sweep goes on. A trial starts from Ray's checkpoint when Ray retries it, else from
    ``config[CONFIG_RESUME_FROM]`` (a resume continuing a trial of an earlier run). ``device: auto``
    lands on the GPU Ray assigned: Ray sets ``CUDA_VISIBLE_DEVICES`` to it, so "cuda" is that
    device (and no GPU is visible without one).
    """
    # Ray logs every persisted checkpoint at INFO on the driver's console; one line per report is noise.
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    # One intra-op thread per reserved core, so that packed trials do not oversubscribe the node.
    torch.set_num_threads(max(1, int(cpus)))
    trial_config = TrialConfig.model_validate(config[CONFIG_TRIAL])
    reported_steps: list[float] = []
    report_to_ray = LastCheckpointReporter()

    def report(metrics: dict[str, float], checkpoint: Path | None) -> None:
        reported_steps.append(metrics[RESULT_STEP])
        report_to_ray(metrics, checkpoint)

    with tempfile.TemporaryDirectory(prefix="weightsearch-trial-") as scratch:
        try:
            final = train(
                trial_config,
                report=report,
                checkpoint_dir=Path(scratch) / "checkpoints",
                resume_from=_restored_checkpoint(Path(scratch) / "restored") or config.get(CONFIG_RESUME_FROM),
            )
            if not reported_steps:
                # Continued from its last checkpoint (the driver died before telling the end): report it again.
                tune.report(final)
        except Exception as error:
            if _copyable(error):
                raise
            raise TrialError(f"{type(error).__name__}: {error}\n{traceback.format_exc()}") from None


def _copyable(error: Exception) -> bool:
    """Ray copies a trial's exception; one whose constructor does not take its message cannot be (its
    copy calls ``type(error)(*error.args)``), and Ray would report a TypeError instead of the real cause."""
    try:
        copy.copy(error)
    except Exception:  # noqa: BLE001 - whatever the constructor raises
        return False
    return True


class LastCheckpointReporter:
    """``tune.report`` for one trial that keeps only its newest checkpoint in the sweep's storage.

    The trial deletes its previous checkpoint once Ray has stored the new one. Ray's own way,
    ``CheckpointConfig(num_to_keep=1)``, deletes on the driver and forces an experiment snapshot
    after every checkpoint (``ExperimentStateManager.on_trial_checkpoint``), on the driver loop that
    every trial waits on at each report: ~17 ms a report on 2 busy cores, measured by
    ``benchmarks/orchestration_overhead.py``. weightsearch never restores those snapshots (a resume
    reads the study and the checkpoint folders), and a retry restores from the newest checkpoint,
    which stays until a newer one is stored. A trial stopped at a report (pruned) keeps its last two.
    """

    def __init__(self) -> None:
        # A retried trial starts from Ray's stored checkpoint: it goes once the trial stores a newer one.
        self._stored: tune.Checkpoint | None = tune.get_checkpoint()

    def __call__(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        if checkpoint is None:
            tune.report(metrics)
            return
        # Ray copies the directory into the trial's storage before returning, so the local copy can go.
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(checkpoint))
        shutil.rmtree(checkpoint, ignore_errors=True)
        stored = tune.get_checkpoint()
        if self._stored is not None and self._stored.path != stored.path:
            # Only a clean-up: a checkpoint left behind must not fail the trial.
            with contextlib.suppress(OSError):
                self._stored.filesystem.delete_dir(self._stored.path)
        self._stored = stored


def _restored_checkpoint(destination: Path) -> Path | None:
    """The checkpoint Ray restores this trial from (after a resume), copied locally; None on a fresh start."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    return Path(checkpoint.to_directory(str(destination)))
