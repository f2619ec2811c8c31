"""Where a trial runs: the resolved torch device and the mixed precision that goes with it."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

import torch

from weightsearch.errors import UserError


def resolve_device(name: str) -> torch.device:
    """Turn the config's ``device`` ("auto", "cpu", "cuda", "cuda:N") into a usable ``torch.device``."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if os.environ.get("CUDA_VISIBLE_DEVICES", "").strip() not in ("", "-1"):
            # Ray sets CUDA_VISIBLE_DEVICES to the GPUs it gave this trial: say why it trains on the CPU.
            warnings.warn(f"device 'auto' trains on the CPU although GPUs were assigned: {cuda_unavailable_reason()}")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise UserError(
            f"trial config field 'device': {name!r} is not a device; use \"auto\", \"cpu\", \"cuda\" or \"cuda:N\""
        ) from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(
                f"trial config field 'device': {name!r} asks for a GPU but this process sees none: "
                f"{cuda_unavailable_reason()}; use \"cpu\" to train on the CPU"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(
                f"trial config field 'device': {name!r} does not exist "
                f"({torch.cuda.device_count()} CUDA device(s)); pick an index below that"
            )
    elif device.type != "cpu":
        raise UserError(f"trial config field 'device': {name!r} is not supported; use \"cpu\" or \"cuda[:N]\"")
    return device


def cuda_unavailable_reason() -> str:
    """Why ``torch.cuda.is_available()`` is False here, in one line: the torch build, the visible devices, the driver."""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build (install a CUDA build, e.g. the GPU image)"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU (Ray sets it to the GPUs a trial reserves: resources.gpu > 0)"
    try:
        torch.cuda.init()  # raises with the driver's own reason, which is_available() swallows
        detail = "no CUDA device found"
    except Exception as error:  # noqa: BLE001 - any failure here is the reason we report
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"torch {torch.__version__} (CUDA {torch.version.cuda}): {detail}; check nvidia-smi on the node, the "
        "container's GPU access (NVIDIA runtime and NVIDIA_VISIBLE_DEVICES, or an nvidia.com/gpu limit) "
        f"and a driver new enough for CUDA {torch.version.cuda}"
    )


@contextlib.contextmanager
def mixed_precision(device: torch.device) -> Iterator[None]:
    """bf16 autocast on CUDA (halves activation memory, no loss scaling needed); full fp32 on CPU."""
    if device.type == "cuda":
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
