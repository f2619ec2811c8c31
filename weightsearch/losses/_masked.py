"""Masked reconstruction losses: token cross-entropy (BERT-style) and patch MSE (MAE)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from weightsearch.losses._checks import require_bool, require_floating, require_integer, require_shape
from weightsearch.losses._reduction import masked_mean, upcast

# MAE's epsilon for the per-patch target normalisation; it keeps flat patches finite.
_PATCH_NORM_EPS = 1e-6


def masked_token_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the masked positions only (BERT's masked-LM loss, Devlin et al. 2019).

    ``logits`` (B, N, V), ``targets`` (B, N) integers, ``mask`` (B, N) bool, True where a token
    was hidden. Mean over the masked positions; nothing masked gives an exact 0 with zero
    gradients. Returns a scalar in float32 (float64 for float64 logits).
    """
    require_floating("logits", logits)
    require_integer("targets", targets)
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape (B, N, V), got {tuple(logits.shape)}")
    require_shape("targets", targets, logits.shape[:2], "logits (B, N, V)")
    require_bool("mask", mask)
    require_shape("mask", mask, targets.shape, "targets")

    vocabulary = logits.shape[-1]
    losses = F.cross_entropy(upcast(logits).reshape(-1, vocabulary), targets.reshape(-1), reduction="none")
    return masked_mean(losses.reshape(targets.shape), mask)


def masked_patch_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    normalize_target: bool = False,
) -> torch.Tensor:
    """Mean squared error over the masked patches only (MAE, He et al. 2022).

    ``pred``/``target`` (B, N, P) with P pixel values per patch, ``mask`` (B, N) bool, True where
    a patch was hidden. ``normalize_target`` standardises each target patch by its own pixel
    mean and (unbiased) variance, ``(x − μ) / sqrt(σ² + 1e-6)``, MAE's variant that improves the
    learned representation. Nothing masked gives an exact 0 with zero gradients. Returns a
    scalar in float32 (float64 for float64 inputs).
    """
    require_floating("pred", pred)
    require_floating("target", target)
    if pred.dim() != 3:
        raise ValueError(f"pred must have shape (B, N, P), got {tuple(pred.shape)}")
    require_shape("target", target, pred.shape, "pred")
    require_bool("mask", mask)
    require_shape("mask", mask, pred.shape[:2], "pred (B, N, P)")
    if normalize_target and pred.shape[-1] < 2:
        raise ValueError(f"normalize_target needs at least 2 values per patch, got P={pred.shape[-1]}")

    pred, target = upcast(pred), upcast(target)
    if normalize_target:
        mean = target.mean(dim=-1, keepdim=True)
        variance = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (variance + _PATCH_NORM_EPS).sqrt()
    # Every patch has P values, so the mean over masked elements equals MAE's mean over masked patches.
    return masked_mean(F.mse_loss(pred, target, reduction="none"), mask)
