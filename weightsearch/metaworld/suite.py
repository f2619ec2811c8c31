"""MetaWorld v3 tasks: names, MT10, and seeded environments that render small frames cheaply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from weightsearch.errors import UserError
from weightsearch.metaworld.rendering import check_renderer, missing_extra

MT10 = (
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "window-close-v3",
)
COLLECTION, EVALUATION = 0, 1
"""Purposes of an env seed: demonstrations and closed-loop evaluation draw goals from disjoint streams."""
CAMERAS = ("corner", "corner2", "corner3", "corner4", "topview", "behindGripper", "gripperPOV")


def all_task_names() -> tuple[str, ...]:
    """Every v3 environment name MetaWorld knows (sorted)."""
    return tuple(sorted(_environment_classes()))


def resolve_tasks(value: Any) -> tuple[str, ...]:
    """``"MT10"`` or a list of v3 environment names → task names in the given order, no repeats."""
    if value == "MT10":
        return MT10
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise UserError(f"options.tasks must be MT10 or a non-empty list of MetaWorld v3 env names, got {value!r}")
    valid = all_task_names()
    unknown = [name for name in value if name not in valid]
    if unknown:
        raise UserError(
            f"options.tasks: {unknown[0]!r} is not a MetaWorld v3 environment; valid: {', '.join(valid)}"
        )
    return tuple(dict.fromkeys(value))


def make_env(task: str, *, seed: int, image_size: int, camera: str) -> Any:
    """A goal-observable env of ``task`` whose every ``reset()`` draws a new random goal from ``seed``.

    The goal is made observable (the scripted experts read it from the state) and unfrozen, as
    MetaWorld's own ``*-goal-observable`` envs do. The off-screen buffer is shrunk to the frame
    size and shadows and multisampling are off: at 64 px with OSMesa that is ~9 ms a frame
    instead of ~150 ms for the 640×480 default buffer.
    """
    env = _environment_classes()[task](render_mode="rgb_array", camera_name=camera, width=image_size, height=image_size)
    visual = env.model.vis
    visual.global_.offwidth = image_size
    visual.global_.offheight = image_size
    visual.quality.shadowsize = 0
    visual.quality.offsamples = 0
    # MetaWorld has no public switch for these; they are what its own goal-observable envs set.
    env._partially_observable = False
    env._freeze_rand_vec = False
    env._set_task_called = True
    # The observation space is cached with the goal hidden; step() clips observations to it.
    env.__dict__.pop("sawyer_observation_space", None)
    env.seed(seed)
    return env


def env_seed(seed: int, task_index: int, purpose: int) -> int:
    """The env seed of one task for one purpose, independent across (seed, task, purpose)."""
    return int(np.random.SeedSequence([seed, task_index, purpose]).generate_state(1)[0])


def expert_policy(task: str) -> Any:
    """MetaWorld's scripted expert for ``task`` (``get_action(state) -> action``)."""
    check_renderer()
    from metaworld.policies import ENV_POLICY_MAP

    return ENV_POLICY_MAP[task]()


def _environment_classes() -> dict[str, type]:
    # First: importing metaworld imports mujoco, which fixes the GL backend for the process.
    check_renderer()
    try:
        from metaworld.env_dict import ENV_CLS_MAP
    except ImportError as error:
        raise missing_extra(error) from error
    return ENV_CLS_MAP


def render_frame(env: Any) -> np.ndarray:
    """The current camera frame, (S, S, 3) uint8, upright (MuJoCo's off-screen frames are upside down)."""
    return np.ascontiguousarray(env.render()[::-1])


def proprioception(state: np.ndarray) -> np.ndarray:
    """Hand position (xyz) and gripper opening: the first four entries of a MetaWorld state."""
    return np.asarray(state[:4], dtype=np.float32)
