"""Closed-loop evaluation: run a policy in the MetaWorld envs on unseen goals and count successes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from weightsearch.metaworld.instructions import instructions, tokenize
from weightsearch.metaworld.suite import EVALUATION, env_seed, make_env, proprioception, render_frame


@dataclass(frozen=True)
class Observations:
    """What a policy sees at one step of ``N`` parallel episodes of one task."""

    task: str
    images: np.ndarray  # (N, S, S, 3) uint8, upright
    proprio: np.ndarray  # (N, 4) float32
    instructions: torch.Tensor  # (N, TEXT_LENGTH) long, held-out templates
    states: np.ndarray  # (N, 39) full env states (the scripted expert reads them; a VLA must not)


Policy = Callable[[Observations], np.ndarray]
"""``policy(observations) -> actions`` of shape (N, 4)."""


def success_rates(
    policy: Policy, tasks: tuple[str, ...], *, episodes: int, seed: int, image_size: int, camera: str, horizon: int
) -> dict[str, float]:
    """``{"success_rate/<task>": rate, "success_rate": mean over tasks}`` over ``episodes`` episodes a task.

    Episodes of a task run in lockstep so the policy sees one batch a step. Goals come from the
    evaluation seed stream, disjoint from the demonstrations'; an episode succeeds when MetaWorld's
    ``info["success"]`` is set at any step within ``horizon``. A crash in the simulator or the
    policy, or a non-finite action, raises ``RuntimeError`` naming the task and step.
    """
    rates = {}
    for task_index, task in enumerate(tasks):
        rates[f"success_rate/{task}"] = _task_success_rate(
            policy, task, env_seed(seed, task_index, EVALUATION), episodes, image_size, camera, horizon
        )
    rates["success_rate"] = float(np.mean(list(rates.values())))
    return rates


def _task_success_rate(
    policy: Policy, task: str, seed: int, episodes: int, image_size: int, camera: str, horizon: int
) -> float:
    held_out = instructions(task, "held_out")
    tokens = tokenize([held_out[episode % len(held_out)] for episode in range(episodes)])
    # An env (and seed) per episode: episode k's goal does not depend on how many episodes run.
    envs = [make_env(task, seed=seed + episode, image_size=image_size, camera=camera) for episode in range(episodes)]
    succeeded = np.zeros(episodes, dtype=bool)
    step = 0
    try:
        states = np.stack([env.reset()[0] for env in envs])
        for step in range(horizon):
            observations = Observations(
                task=task,
                images=np.stack([render_frame(env) for env in envs]),
                proprio=np.stack([proprioception(state) for state in states]),
                instructions=tokens,
                states=states,
            )
            actions = np.asarray(policy(observations), dtype=np.float32)
            if actions.shape != (episodes, 4) or not np.isfinite(actions).all():
                raise ValueError(
                    f"the policy returned actions of shape {actions.shape}, expected finite ({episodes}, 4)"
                )
            for episode, env in enumerate(envs):
                state, _, _, _, info = env.step(np.clip(actions[episode], -1.0, 1.0))
                states[episode] = state
                succeeded[episode] |= bool(info["success"])
            if succeeded.all():
                break
    except Exception as error:
        raise RuntimeError(
            f"closed-loop rollout of {task} crashed at step {step}: {type(error).__name__}: {error}"
        ) from error
    finally:
        for env in envs:
            env.close()
    return float(succeeded.mean())
