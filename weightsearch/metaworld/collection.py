"""Expert demonstrations from MetaWorld's scripted policies, collected once and cached on disk by content."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weightsearch.metaworld.rendering import configure_backend
from weightsearch.metaworld.suite import (
    COLLECTION,
    env_seed,
    expert_policy,
    make_env,
    proprioception,
    render_frame,
)

CACHE_VERSION = 1
"""Bump when what is collected changes, so old caches are not read."""
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "weightsearch" / "metaworld"


@dataclass(frozen=True)
class CollectionSettings:
    """Everything that determines the collected data; its hash names the cache file."""

    tasks: tuple[str, ...]
    episodes: int
    image_size: int
    camera: str
    seed: int
    horizon: int

    def key(self) -> str:
        """Content key: a hash of the settings, the cache version and MetaWorld's version."""
        from importlib.metadata import version

        content = {
            **self.__dict__, "tasks": list(self.tasks), "version": CACHE_VERSION, "metaworld": version("metaworld")
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Demonstrations:
    """Frames of expert episodes, flat over time; ``episode_*`` arrays have one entry per episode."""

    images: np.ndarray  # (N, S, S, 3) uint8, upright
    proprio: np.ndarray  # (N, 4) float32: hand xyz, gripper opening
    actions: np.ndarray  # (N, 4) float32 in [-1, 1]: xyz delta, gripper
    task_ids: np.ndarray  # (N,) int64, index into the settings' tasks
    episode_ids: np.ndarray  # (N,) int64, index into the episode arrays
    episode_tasks: np.ndarray  # (E,) int64
    episode_success: np.ndarray  # (E,) bool: the expert reached the goal within the horizon
    collection_seconds: float  # time spent collecting (also when read from the cache)
    from_cache: bool


def load_or_collect(
    settings: CollectionSettings, cache_dir: Path | None = None, *, write: bool = True
) -> Demonstrations:
    """Read the demonstrations for ``settings`` from the cache, collecting and writing them first if absent.

    A lock file makes concurrent trials of a sweep wait for the one that collects instead of
    collecting again; the cache file appears atomically (written aside, then renamed). With ``write``
    false (`weightsearch validate`) nothing is written: a missing cache is collected in memory only.
    """
    directory = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    path = directory / f"{settings.key()}.npz"
    if not write:
        if path.exists():
            return _read(path, from_cache=True)
        return _demonstrations(collect(settings), from_cache=False)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"{settings.key()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return _read(path, from_cache=True)
        arrays = collect(settings)
        partial_path = path.with_suffix(f".{os.getpid()}.partial.npz")
        np.savez(partial_path, **arrays)
        os.replace(partial_path, path)
    return _read(path, from_cache=False)


def collect(settings: CollectionSettings) -> dict[str, np.ndarray]:
    """Roll out each task's scripted expert for ``episodes`` episodes; record each frame before its action.

    An episode ends at the expert's first success or at ``horizon`` steps.
    """
    configure_backend()
    from rich.progress import Progress

    started = time.perf_counter()
    frames: dict[str, list] = {"images": [], "proprio": [], "actions": [], "task_ids": [], "episode_ids": []}
    episode_tasks, episode_success = [], []
    with Progress(transient=True) as progress:
        bar = progress.add_task("MetaWorld expert demonstrations", total=len(settings.tasks) * settings.episodes)
        for task_index, task in enumerate(settings.tasks):
            seed = env_seed(settings.seed, task_index, COLLECTION)
            env = make_env(task, seed=seed, image_size=settings.image_size, camera=settings.camera)
            expert = expert_policy(task)
            try:
                for _ in range(settings.episodes):
                    state, _ = env.reset()
                    success = False
                    for _ in range(settings.horizon):
                        action = np.clip(expert.get_action(state), -1.0, 1.0).astype(np.float32)
                        frames["images"].append(render_frame(env))
                        frames["proprio"].append(proprioception(state))
                        frames["actions"].append(action)
                        frames["task_ids"].append(task_index)
                        frames["episode_ids"].append(len(episode_tasks))
                        state, _, _, _, info = env.step(action)
                        if info["success"]:
                            success = True
                            break
                    episode_tasks.append(task_index)
                    episode_success.append(success)
                    progress.advance(bar)
            finally:
                env.close()
    return {
        "images": np.stack(frames["images"]),
        "proprio": np.stack(frames["proprio"]),
        "actions": np.stack(frames["actions"]),
        "task_ids": np.asarray(frames["task_ids"], dtype=np.int64),
        "episode_ids": np.asarray(frames["episode_ids"], dtype=np.int64),
        "episode_tasks": np.asarray(episode_tasks, dtype=np.int64),
        "episode_success": np.asarray(episode_success, dtype=bool),
        "collection_seconds": np.asarray(time.perf_counter() - started),
    }


def _read(path: Path, *, from_cache: bool) -> Demonstrations:
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    return _demonstrations(arrays, from_cache=from_cache)


def _demonstrations(arrays: dict[str, np.ndarray], *, from_cache: bool) -> Demonstrations:
    return Demonstrations(
        **{name: value for name, value in arrays.items() if name != "collection_seconds"},
        collection_seconds=float(arrays["collection_seconds"]),
        from_cache=from_cache,
    )
