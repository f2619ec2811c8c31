"""Argument checks shared by the task losses: each failure is a ValueError naming the argument."""

from __future__ import annotations

import torch


def require_floating(name: str, tensor: torch.Tensor) -> None:
    """Raise unless ``tensor`` is a floating-point tensor."""
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {_describe(tensor)}")


def require_integer(name: str, tensor: torch.Tensor) -> None:
    """Raise unless ``tensor`` holds integers (class indices or tokens)."""
    integer = isinstance(tensor, torch.Tensor) and not (
        tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool
    )
    if not integer:
        raise ValueError(f"{name} must be an integer tensor (e.g. torch.long), got {_describe(tensor)}")


def require_shape(name: str, tensor: torch.Tensor, shape: torch.Size | tuple[int, ...], expected_from: str) -> None:
    """Raise unless ``tensor`` has exactly ``shape`` (which was derived from ``expected_from``)."""
    if tuple(tensor.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} to match {expected_from}, got {tuple(tensor.shape)}")


def require_bool(name: str, tensor: torch.Tensor) -> None:
    """Raise unless ``tensor`` is a bool tensor (a mask)."""
    if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.bool:
        raise ValueError(f"{name} must be a bool tensor, got {_describe(tensor)}")


def require_prefix_mask(name: str, mask: torch.Tensor, shape: torch.Size, expected_from: str) -> None:
    """Raise unless ``mask`` is a bool tensor whose shape is a leading part of ``shape`` (items, timesteps, …)."""
    require_bool(name, mask)
    if mask.dim() == 0 or mask.dim() > len(shape) or tuple(mask.shape) != tuple(shape[: mask.dim()]):
        raise ValueError(
            f"{name} must have a leading part of the shape of {expected_from} {tuple(shape)} "
            f"(e.g. {tuple(shape[:1])} or {tuple(shape[:2])}), got {tuple(mask.shape)}"
        )


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"dtype {value.dtype}"
    return type(value).__name__
