"""The base class every loss normalizer implements."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from weightsearch.weighting._indexing import TaskIndex
from weightsearch.weighting._params import check_tasks


class LossNormalizer(nn.Module, abc.ABC):
    """Maps raw task losses to normalised ones; denominators are detached so only the scale changes.

    Hyperparameters are keyword-only constructor arguments after ``tasks``, and state round-trips
    through ``state_dict``, as for a ``WeightingStrategy``.
    """

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
