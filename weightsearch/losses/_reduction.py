"""Numerically safe reductions shared by the task losses (float32 or wider, masked means)."""

from __future__ import annotations

import torch


def upcast(tensor: torch.Tensor) -> torch.Tensor:
    """Return ``tensor`` in float32, or unchanged when it is already float32/float64.

    Under bf16/fp16 autocast the model hands us half-precision activations; squares and
    exponentials of those overflow or lose the small differences a loss depends on.
    Float64 stays float64 so ``torch.autograd.gradcheck`` can check the exact formula.
    """
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` over the entries ``mask`` selects; ``mask`` covers leading dims of ``values``.

    Nothing selected gives an exact 0 that is still part of the autograd graph (zero
    gradients), so a batch without labelled items neither crashes nor produces NaN.
    """
    if mask is None:
        return values.mean()
    # Broadcast an item (B,) or timestep (B, T) mask over the trailing feature dims.
    expanded = mask.reshape(mask.shape + (1,) * (values.dim() - mask.dim())).expand_as(values)
    # where, not multiplication: a non-finite value at an unselected entry must not leak in.
    total = torch.where(expanded, values, torch.zeros((), dtype=values.dtype, device=values.device)).sum()
    count = expanded.sum().clamp_min(1).to(values.dtype)
    return total / count
