"""One seed's copy of a trial, and the metrics of a trial trained on several seeds in lockstep.

A trial with ``repeats: R`` trains R replicas in one process, one per seed, each with its own
model, data, composite loss, optimizer, schedule, running averages and random generators. They
move in lockstep from report to report: between two report steps each replica in turn trains its
block of steps, then all are evaluated and the trial reports. Each replica draws from generators
of its own, swapped into torch/Python/numpy around its block and its evaluation (a swap costs
~0.1 ms, mostly numpy's: once a block, not once a step), so replica ``k`` computes exactly what a
single-seed trial with seed ``seed + k`` does, and a resumed trial continues every replica where
it stopped. A block at a time also keeps one replica's weights and optimizer state hot in the caches.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from weightsearch.composite import CompositeLoss
from weightsearch.contracts import seed_metric
from weightsearch.trial.averager import MetricAverager
from weightsearch.trial.checkpoint import capture_rng_state, restore_rng_state
from weightsearch.trial.components import TrialComponents
from weightsearch.trial.device import mixed_precision
from weightsearch.trial.evaluation import evaluate


class Replica:
    """The training state of one seed: train it a block of steps at a time, evaluate it, save and restore it.

    Built right after its seed was set and its parts were made: the generators' state at
    construction is where its own random stream starts.
    """

    def __init__(
        self,
        components: TrialComponents,
        composite: CompositeLoss,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        *,
        grad_clip: float | None,
        device: torch.device,
    ) -> None:
        self.components = components
        self.model = components.model
        self.composite = composite
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.grad_clip = grad_clip
        self.device = device
        self.shared_parameters = list(components.shared_parameters(self.model))
        self.averager = MetricAverager()
        self.rng = capture_rng_state(device)
        self.model.train()

    def train(self, steps: range, *, diagnostics: bool, after_step: Callable[[], None]) -> float:
        """Train ``steps`` in order, their records joining the averages of the next report; seconds spent in them.

        ``steps`` end at a report step: gradient diagnostics are computed on the last one when
        ``diagnostics``. ``after_step`` is called after each step, outside the time measured.
        """
        seconds = 0.0
        with self._own_generators():
            for step in steps:
                started = time.perf_counter()
                self._step(step, diagnostics=diagnostics and step == steps[-1])
                seconds += time.perf_counter() - started
                after_step()
        return seconds

    def report(self) -> dict[str, float]:
        """``train/…`` averaged since the previous report (then emptied) and this seed's ``val/…``."""
        with self._own_generators():
            return {**self.averager.pop_means(), **evaluate(self.components, self.device)}

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of this seed (taken at a report step, when the averages are empty)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "composite": self.composite.state_dict(),
            "rng": self.rng,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict`, generators included."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.composite.load_state_dict(state["composite"])
        self.rng = state["rng"]

    def _step(self, step: int, *, diagnostics: bool) -> None:
        """One optimizer step on the batch of ``step``, recorded into the averages."""
        with mixed_precision(self.device):
            losses = self.components.task_losses(self.model, self.components.train_batch(step))
        # The weighting arithmetic (exp of log-variances, ratios of losses) stays in fp32.
        losses = {task: loss.float() for task, loss in losses.items()}
        record = self.composite(losses, step, shared_parameters=self.shared_parameters, diagnostics=diagnostics)
        self.optimizer.zero_grad(set_to_none=True)
        record.total.backward()
        if self.grad_clip is not None:
            # Only the model's gradients: clipping jointly would let a large model gradient
            # shrink the updates of the strategy's own parameters (log-variances).
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.averager.add(record.metrics("train"))

    @contextlib.contextmanager
    def _own_generators(self) -> Iterator[None]:
        """Draw from this seed's generator states (dropout, masks), and keep where they ended."""
        restore_rng_state(self.rng, self.device)
        try:
            yield
        finally:
            self.rng = capture_rng_state(self.device)


def seed_means(per_seed: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The metrics of a trial from each seed's: every metric's mean under its own name, each seed's under :func:`seed_metric`.

    A metric's mean is over the seeds that report it. One seed: its metrics as they are (no
    ``seed0/…`` copies), so a single-seed trial reports what it always has.
    """
    if len(per_seed) == 1:
        return dict(per_seed[0])
    values: dict[str, list[float]] = {}
    for metrics in per_seed:
        for name, value in metrics.items():
            values.setdefault(name, []).append(value)
    means = {name: statistics.fmean(seed_values) for name, seed_values in values.items()}
    return means | {
        seed_metric(name, index): value for index, metrics in enumerate(per_seed) for name, value in metrics.items()
    }
