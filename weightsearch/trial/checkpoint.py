"""Trainer checkpoints: one directory per report step, written atomically, plus the random-generator state."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy
import torch

from weightsearch.errors import UserError

STATE_FILE = "trainer_state.pt"


def save_checkpoint(checkpoint_dir: Path, step: int, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``checkpoint_dir/step_<step>/`` so that a reader never sees a half-written one.

    The files go to a temporary sibling directory first, which is then renamed into place: a crash
    leaves either the old checkpoint or the complete new one.
    """
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    final = checkpoint_dir / f"step_{step:07d}"
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=checkpoint_dir))
    torch.save(state, staging / STATE_FILE)
    if final.exists():
        # A resumed trial can write a step that an earlier, longer attempt already wrote.
        retired = Path(tempfile.mkdtemp(prefix=f".{final.name}-old-", dir=checkpoint_dir))
        os.replace(final, retired / final.name)
        os.replace(staging, final)
        shutil.rmtree(retired)
    else:
        os.replace(staging, final)
    return final


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read the state a :func:`save_checkpoint` directory holds (tensors on the CPU)."""
    state_file = Path(path) / STATE_FILE
    if not state_file.is_file():
        raise UserError(f"resume_from: {str(path)!r} is not a trainer checkpoint (no {STATE_FILE} in it)")
    # Our own file, holding the generator states (Python tuples, numpy arrays) next to the tensors.
    return torch.load(state_file, map_location="cpu", weights_only=False)


def replica_states(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Each seed's state in a trainer checkpoint, in seed order.

    A checkpoint keeps them as a list under ``"replicas"``; one written before trials had several
    seeds holds its only seed's state at the top level (``model``, ``optimizer``, …, ``rng``).
    """
    return state.get("replicas", [state])


def capture_rng_state(device: torch.device) -> dict[str, Any]:
    """The state of every random generator a step can draw from (torch CPU and CUDA, Python, numpy)."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": numpy.random.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Put back the generator states :func:`capture_rng_state` took, so a resumed trial draws the same numbers."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    numpy.random.set_state(state["numpy"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), Python and numpy, so model initialisation and dropout repeat."""
    torch.manual_seed(seed)
    random.seed(seed)
    numpy.random.seed(seed % 2**32)
