"""Each task's initial loss ``L_i(0)``: the running mean of its first ``limit`` observed losses."""

from __future__ import annotations

import torch

from weightsearch.weighting._indexing import PresentTasks, scatter


@torch.no_grad()
def update_initial_losses(
    present: PresentTasks, counts: list[int], limit: int, sums: torch.Tensor, means: torch.Tensor
) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """New ``(counts, sums, means)`` after adding the losses of present tasks observed fewer than ``limit`` times.

    Shared by the ``initial`` normalizer and GradNorm. Counts depend only on which tasks were
    present, so they stay on the host; a task's mean includes the current loss, so its first step
    gives ``L_i / L_i(0) = 1``. When no present task is still collecting, the inputs come back as they are.
    """
    collecting = [counts[position] < limit for position in present.positions]
    if not any(collecting):
        return counts, sums, means
    losses, selection = present.losses, present.selection
    updated = list(counts)
    for position, flag in zip(present.positions, collecting):
        updated[position] += int(flag)
    mask = torch.tensor(collecting, dtype=losses.dtype).to(losses.device, non_blocking=True)
    present_sums = sums[selection] + mask * losses
    divisors = torch.tensor([updated[position] for position in present.positions], dtype=losses.dtype)
    divisors = divisors.to(losses.device, non_blocking=True)
    # Replaced, not updated in place: an earlier step's graph may still hold the old means.
    return updated, scatter(present_sums, selection, sums), scatter(present_sums / divisors, selection, means)
