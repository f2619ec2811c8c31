"""The base class every loss-weighting strategy implements."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
from torch import nn

from weightsearch.weighting._indexing import Selection, TaskIndex
from weightsearch.weighting._params import check_tasks


class WeightingStrategy(nn.Module, abc.ABC):
    """Turns the per-task losses of one step into a weighted total.

    Hyperparameters are typed constructor keywords with defaults; state (learnable weights, loss
    history, random generator) lives in the strategy and round-trips through ``state_dict``.
    Parameters the user's main optimizer must train (uncertainty's log-variances) are
    ``nn.Parameter``s; weights a strategy updates by its own rule are buffers, replaced rather than
    modified in place so that a graph still holding last step's weights stays valid.
    """

    name: ClassVar[str] = ""
    """The registry name (set by ``@register``); used in error messages and by specs."""

    needs_shared_parameters: ClassVar[bool] = False
    """Whether :meth:`weigh` needs the parameters of the last shared layer (gradient-based strategies)."""

    needs_positive_losses: ClassVar[bool] = False
    """Whether the formula takes ratios or logarithms of the losses, so they must stay above zero."""

    def __init__(self, tasks: Sequence[str]) -> None:
        super().__init__()
        self.tasks: tuple[str, ...] = check_tasks(tasks)
        self._index = TaskIndex(self.tasks)

    @abc.abstractmethod
    def weigh(
        self,
        losses: Mapping[str, torch.Tensor],
        step: int,
        shared_parameters: Sequence[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Weigh one step's losses; called by ``CompositeLoss`` once per training step.

        Args:
            losses: ``{task: scalar loss}`` (already normalised) for the tasks present this step, in
                the order of ``self.tasks``; absent tasks contribute nothing and leave state untouched.
            step: the training step index.
            shared_parameters: parameters of the last shared layer; given only when the class sets
                ``needs_shared_parameters``.

        Returns:
            The weighted total (a scalar to backpropagate) and ``{task: detached scalar weight}``
            for the present tasks: the factor this step multiplies each loss by.
        """

    @abc.abstractmethod
    def current_weights(self) -> dict[str, float]:
        """The effective weight of every task as of the latest step (before any step: the initial ones)."""

    def _positions(self, losses: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
        """Positions in ``self.tasks`` of the tasks present in ``losses``."""
        return self._index.positions(losses)

    def _selection(self, positions: Sequence[int], device: torch.device, size: int | None = None) -> Selection:
        """Index of ``positions`` into per-task tensors (or ones of length ``size``); see ``TaskIndex.selection``."""
        return self._index.selection(positions, device, size)
