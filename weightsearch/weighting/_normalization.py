"""Loss normalizers: rescale each task's loss before weighting so λ values compare across loss scales."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from weightsearch.errors import UserError
from weightsearch.weighting._indexing import TaskIndex, scatter, stack_losses
from weightsearch.weighting._params import check_count, check_number, check_tasks
from weightsearch.weighting._registry import build, registrar

NORMALIZERS: dict[str, type["LossNormalizer"]] = {}
"""Registered loss normalizers by the name a spec uses (``normalization: ema``)."""

register_normalizer = registrar(NORMALIZERS, "loss normalizer")
"""Class decorator that registers a loss normalizer under a name: ``@register_normalizer("ema")``."""


def make_normalizer(name: str, tasks: Sequence[str], **params: Any) -> "LossNormalizer":
    """Build the normalizer registered as ``name`` for ``tasks`` with parameters ``params``."""
    return build("normalization", NORMALIZERS, name, tasks, params)


class LossNormalizer(nn.Module, abc.ABC):
    """Maps raw task losses to normalised ones; denominators are detached so only the scale changes."""

    name: str = ""

    keeps_sign: bool = True
    """Whether positive losses stay positive; strategies with ``needs_positive_losses`` need that."""

    def __init__(self, tasks: Sequence[str]) -> None:
        super().__init__()
        self.tasks: tuple[str, ...] = check_tasks(tasks)
        self._index = TaskIndex(self.tasks)

    @abc.abstractmethod
    def normalize(self, losses: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """Normalise the losses of the tasks present this step (in task order); absent tasks keep their state."""


@register_normalizer("none")
class NoNormalization(LossNormalizer):
    """Identity: ``L̂_i = L_i``."""

    def normalize(self, losses: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        return dict(losses)


@register_normalizer("initial")
class InitialLossNormalization(LossNormalizer):
    """``L̂_i = L_i / L_i(0)``, ``L_i(0)`` the mean of the task's first ``k`` observed losses.

    Steps where a task is absent do not count towards its ``k``. Until ``k`` losses were seen the
    denominator is the running mean so far (including the current loss, so the first step gives 1).
    """

    def __init__(self, tasks: Sequence[str], *, k: int = 1) -> None:
        super().__init__(tasks)
        self.k = check_count(self.name, "k", k)
        self.register_buffer("sums", torch.zeros(len(self.tasks)))
        self.register_buffer("denominators", torch.ones(len(self.tasks)))
        # Observation counts depend only on which tasks were present: kept on the host, no sync.
        self.counts = [0] * len(self.tasks)

    def normalize(self, losses: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        positions = self._index.positions(losses)
        selection = self._index.selection(positions, self.sums.device)
        stacked = stack_losses(losses, self.sums.dtype)
        collecting = [self.counts[position] < self.k for position in positions]
        if any(collecting):
            with torch.no_grad():
                counts = [self.counts[position] + int(flag) for position, flag in zip(positions, collecting)]
                mask = torch.tensor(collecting, dtype=stacked.dtype).to(stacked.device, non_blocking=True)
                sums = self.sums[selection] + mask * stacked
                divisors = torch.tensor(counts, dtype=stacked.dtype).to(stacked.device, non_blocking=True)
                self.sums = scatter(sums, selection, self.sums)
                # Replaced, not updated in place: an earlier step's graph may still hold the old one.
                self.denominators = scatter(sums / divisors, selection, self.denominators)
            for position, count in zip(positions, counts):
                self.counts[position] = count
        return dict(zip(losses, (stacked / self.denominators[selection]).unbind()))

    def get_extra_state(self) -> dict[str, Any]:
        return {"counts": list(self.counts)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.counts = list(state["counts"])


@register_normalizer("ema")
class EmaNormalization(LossNormalizer):
    """``L̂_i = L_i / m̂_i``, ``m̂_i`` the bias-corrected moving average of the task's observed losses.

    ``m_i ← decay·m_i + (1 - decay)·L_i`` over the steps where the task is present (updated before
    dividing, so the first step gives 1); ``m̂_i = m_i / (1 - decay^{n_i})`` as in Adam (Kingma & Ba, 2015).
    """

    def __init__(self, tasks: Sequence[str], *, decay: float = 0.99) -> None:
        super().__init__(tasks)
        self.decay = check_number(self.name, "decay", decay, minimum=0.0)
        if self.decay >= 1.0:
            raise UserError(f"{self.name}: parameter 'decay' must be < 1 (the average would never move), got {decay}")
        self.register_buffer("averages", torch.zeros(len(self.tasks)))
        self.register_buffer("counts", torch.zeros(len(self.tasks)))

    def normalize(self, losses: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        selection = self._index.selection(self._index.positions(losses), self.averages.device)
        stacked = stack_losses(losses, self.averages.dtype)
        with torch.no_grad():
            averages = torch.lerp(self.averages[selection], stacked, 1 - self.decay)
            counts = self.counts[selection] + 1
            self.averages = scatter(averages, selection, self.averages)
            self.counts = scatter(counts, selection, self.counts)
            corrected = averages / (1 - torch.pow(self.decay, counts))
        return dict(zip(losses, (stacked / corrected).unbind()))


@register_normalizer("log")
class LogNormalization(LossNormalizer):
    """``L̂_i = log(max(L_i, eps))``: scale-invariant, since ``∇ log L = ∇L / L``.

    A loss at or below zero (e.g. a negative log-likelihood) has no logarithm; it is clamped to
    ``eps``, where its gradient vanishes, so such tasks should use another normalizer. Losses
    below 1 become negative, which strategies that take ratios or logarithms cannot use.
    """

    keeps_sign = False

    def __init__(self, tasks: Sequence[str], *, eps: float = 1e-8) -> None:
        super().__init__(tasks)
        self.eps = check_number(self.name, "eps", eps, positive=True)

    def normalize(self, losses: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        logs = stack_losses(losses, torch.promote_types(next(iter(losses.values())).dtype, torch.float32))
        return dict(zip(losses, logs.clamp(min=self.eps).log().unbind()))
