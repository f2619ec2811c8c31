"""Where a trial runs: the resolved torch device and the mixed precision that goes with it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from weightsearch.errors import UserError


def resolve_device(name: str) -> torch.device:
    """Turn the config's ``device`` ("auto", "cpu", "cuda", "cuda:N") into a usable ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise UserError(
            f"trial config field 'device': {name!r} is not a device; use \"auto\", \"cpu\", \"cuda\" or \"cuda:N\""
        ) from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError("trial config field 'device': CUDA is not available here; use \"cpu\" or \"auto\"")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(
                f"trial config field 'device': {name!r} does not exist "
                f"({torch.cuda.device_count()} CUDA device(s)); pick an index below that"
            )
    elif device.type != "cpu":
        raise UserError(f"trial config field 'device': {name!r} is not supported; use \"cpu\" or \"cuda[:N]\"")
    return device


@contextlib.contextmanager
def mixed_precision(device: torch.device) -> Iterator[None]:
    """bf16 autocast on CUDA (halves activation memory, no loss scaling needed); full fp32 on CPU."""
    if device.type == "cuda":
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
