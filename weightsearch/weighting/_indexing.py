"""Per-task tensor indexing shared by strategies and normalizers, without host-device syncs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

Selection = slice | torch.Tensor
"""Index of the present tasks into a per-task tensor: ``slice(None)`` (a view) or an index tensor."""


@dataclass(frozen=True)
class PresentTasks:
    """The tasks present at one step: their losses stacked, their positions in the task list and their index."""

    losses: torch.Tensor
    """``[P]``, in task order, in the dtype of the holder's state."""

    positions: tuple[int, ...]
    """Positions of the present tasks in the holder's ``tasks``."""

    selection: Selection
    """Their index into per-task tensors (``weights[selection]``); a view when every task is present."""


class TaskIndex:
    """Maps present task names to positions and cached index tensors."""

    def __init__(self, tasks: Sequence[str]) -> None:
        self.tasks = tuple(tasks)
        self._cache: dict[tuple[tuple[int, ...], torch.device], torch.Tensor] = {}

    def positions(self, losses: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
        """Positions in ``tasks`` of the tasks present in ``losses``."""
        return tuple(self.tasks.index(task) for task in losses)

    def selection(self, positions: Sequence[int], device: torch.device, size: int | None = None) -> Selection:
        """Index of ``positions`` into tensors of length ``size`` (default: one entry per task) on ``device``.

        Selecting everything in order is ``slice(None)``, a view; other index tensors are cached, since
        building one anew copies from the host, which on CUDA synchronises the stream every step.
        """
        positions = tuple(positions)
        if positions == tuple(range(len(self.tasks) if size is None else size)):
            return slice(None)
        key = (positions, device)
        if key not in self._cache:
            self._cache[key] = torch.tensor(positions, device=device)
        return self._cache[key]

    def present(self, losses: Mapping[str, torch.Tensor], like: torch.Tensor) -> PresentTasks:
        """The tasks in ``losses``, their losses stacked in ``like``'s dtype and their index on its device."""
        positions = self.positions(losses)
        return PresentTasks(stack_losses(losses, like.dtype), positions, self.selection(positions, like.device))


def stack_losses(losses: Mapping[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """The losses as one ``[len(losses)]`` tensor of ``dtype`` (mixed-precision losses are promoted)."""
    return torch.stack(list(losses.values())).to(dtype)


def scatter(values: torch.Tensor, selection: Selection, into: torch.Tensor) -> torch.Tensor:
    """A copy of ``into`` with ``values`` at ``selection`` (``values`` itself when all tasks are selected)."""
    if isinstance(selection, slice):
        return values.to(into.dtype)
    return into.index_put((selection,), values.to(into.dtype))
