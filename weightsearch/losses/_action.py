"""Action losses: continuous regression (MSE/L1/Huber) and discretised action tokens with cross-entropy."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from weightsearch.losses._checks import (
    require_floating,
    require_integer,
    require_prefix_mask,
    require_shape,
)
from weightsearch.losses._reduction import masked_mean, upcast

REGRESSION_KINDS = ("mse", "l1", "huber")


def action_regression_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    kind: str = "mse",
    huber_delta: float = 1.0,
) -> torch.Tensor:
    """Mean elementwise regression error between predicted and target actions over the valid entries.

    ``kind``: ``"mse"`` (d²), ``"l1"`` (|d|) or ``"huber"`` (d²/2 for |d| ≤ δ, else δ(|d| − δ/2)).
    ``mask`` (B,) or (B, T) bool keeps items or timesteps (e.g. padding of action chunks);
    with nothing kept the result is an exact 0 with zero gradients. Returns a scalar in
    float32 (float64 for float64 inputs), also under bf16/fp16 autocast.
    """
    require_floating("pred", pred)
    require_floating("target", target)
    require_shape("target", target, pred.shape, "pred")
    if pred.dim() == 0:
        raise ValueError("pred must have a batch dimension, got a 0-d tensor")
    if mask is not None:
        require_prefix_mask("mask", mask, pred.shape, "pred")
    if kind not in REGRESSION_KINDS:
        raise ValueError(f"kind must be one of {REGRESSION_KINDS}, got {kind!r}")
    if not huber_delta > 0:
        raise ValueError(f"huber_delta must be positive, got {huber_delta}")

    pred, target = upcast(pred), upcast(target)
    if kind == "mse":
        errors = F.mse_loss(pred, target, reduction="none")
    elif kind == "l1":
        errors = F.l1_loss(pred, target, reduction="none")
    else:
        errors = F.huber_loss(pred, target, reduction="none", delta=huber_delta)
    return masked_mean(errors, mask)


class ActionTokenizer:
    """Discretises continuous actions into ``bins`` uniform bins per dimension (RT-1, RT-2, OpenVLA).

    Bin ``k`` of a dimension covers ``[low + k·w, low + (k+1)·w)`` with ``w = (high − low) / bins``;
    actions outside ``[low, high]`` are clipped first, ``high`` itself falls in the last bin.
    Decoding returns bin centres, so a round trip within the bounds is off by at most ``w / 2``.
    ``low``/``high`` are floats (same bounds for every dimension) or per-dimension sequences/tensors.
    """

    def __init__(
        self,
        low: float | Sequence[float] | torch.Tensor,
        high: float | Sequence[float] | torch.Tensor,
        bins: int = 256,
    ) -> None:
        self.low = torch.as_tensor(low, dtype=torch.float32).detach().clone()
        self.high = torch.as_tensor(high, dtype=torch.float32).detach().clone()
        for name, bound in (("low", self.low), ("high", self.high)):
            if bound.dim() > 1:
                raise ValueError(
                    f"{name} must be a float or a per-dimension 1-d sequence, got shape {tuple(bound.shape)}"
                )
            if not torch.isfinite(bound).all():
                raise ValueError(f"{name} must be finite, got {bound.tolist()}")
        if self.low.dim() == 1 and self.high.dim() == 1 and self.low.shape != self.high.shape:
            raise ValueError(f"low and high must have the same length, got {len(self.low)} and {len(self.high)}")
        self.low, self.high = torch.broadcast_tensors(self.low, self.high)
        if not (self.low < self.high).all():
            raise ValueError(
                f"low must be below high in every dimension, got low={self.low.tolist()} high={self.high.tolist()}"
            )
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
        self.bins = bins

    @property
    def bin_width(self) -> torch.Tensor:
        """Width of one bin, ``(high − low) / bins``: a scalar, or one per dimension."""
        return (self.high - self.low) / self.bins

    def encode(self, actions: torch.Tensor) -> torch.Tensor:
        """Map actions (..., D) to bin indices (..., D) as ``torch.long``, clipping to the bounds first."""
        require_floating("actions", actions)
        self._require_dimensions("actions", actions)
        low, high = self.low.to(actions.device), self.high.to(actions.device)
        clipped = torch.minimum(torch.maximum(upcast(actions), low), high)
        tokens = torch.floor((clipped - low) / self.bin_width.to(actions.device)).long()
        return tokens.clamp_(0, self.bins - 1)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Map bin indices (..., D) back to the bin centres (..., D) in float32."""
        require_integer("tokens", tokens)
        self._require_dimensions("tokens", tokens)
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.bins):
            raise ValueError(
                f"tokens must lie in [0, {self.bins}), got values in [{tokens.min().item()}, {tokens.max().item()}]"
            )
        low, width = self.low.to(tokens.device), self.bin_width.to(tokens.device)
        return low + (tokens.float() + 0.5) * width

    def _require_dimensions(self, name: str, tensor: torch.Tensor) -> None:
        if self.low.dim() == 1 and (tensor.dim() == 0 or tensor.shape[-1] != self.low.shape[0]):
            raise ValueError(
                f"{name} must have {self.low.shape[0]} action dimensions in its last axis "
                f"(one per bound), got shape {tuple(tensor.shape)}"
            )

    def __repr__(self) -> str:
        return f"ActionTokenizer(low={self.low.tolist()}, high={self.high.tolist()}, bins={self.bins})"


def action_token_loss(
    logits: torch.Tensor,
    tokens: torch.Tensor,
    label_smoothing: float = 0.0,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of action-token logits (..., bins) against tokens (...) from `ActionTokenizer` (RT-2).

    ``label_smoothing`` in [0, 1) spreads that much target mass uniformly over the bins.
    ``mask`` (B,) or (B, T) bool keeps items or timesteps; with nothing kept the result is an
    exact 0 with zero gradients. Returns a scalar in float32 (float64 for float64 logits).
    """
    require_floating("logits", logits)
    require_integer("tokens", tokens)
    if logits.dim() < 2:
        raise ValueError(f"logits must have shape (..., bins) with a batch dimension, got {tuple(logits.shape)}")
    require_shape("tokens", tokens, logits.shape[:-1], "logits without its last (bins) axis")
    if mask is not None:
        require_prefix_mask("mask", mask, tokens.shape, "tokens")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")

    bins = logits.shape[-1]
    losses = F.cross_entropy(
        upcast(logits).reshape(-1, bins), tokens.reshape(-1), reduction="none", label_smoothing=label_smoothing
    )
    return masked_mean(losses.reshape(tokens.shape), mask)
