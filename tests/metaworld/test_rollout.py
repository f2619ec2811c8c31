import numpy as np
import pytest

from weightsearch.metaworld import Observations, success_rates
from weightsearch.metaworld.suite import expert_policy

TASKS = ["reach-v3", "drawer-close-v3"]


def expert(observations: Observations) -> np.ndarray:
    """MetaWorld's scripted expert as a closed-loop policy (it reads the full state, a VLA the pixels)."""
    policy = expert_policy(observations.task)
    return np.stack([np.clip(policy.get_action(state), -1, 1) for state in observations.states])


def test_the_scripted_expert_succeeds_in_closed_loop():
    rates = success_rates(expert, tuple(TASKS), episodes=2, seed=0, image_size=32, camera="corner", horizon=150)
    assert rates == {"success_rate/reach-v3": 1.0, "success_rate/drawer-close-v3": 1.0, "success_rate": 1.0}


def test_a_policy_that_stands_still_fails_reach():
    def still(observations: Observations) -> np.ndarray:
        return np.zeros((len(observations.states), 4))

    rates = success_rates(still, ("reach-v3",), episodes=2, seed=0, image_size=32, camera="corner", horizon=20)
    assert rates["success_rate"] == 0.0


def test_a_crashing_rollout_raises_with_the_task_and_step():
    def broken(observations: Observations) -> np.ndarray:
        return np.full((len(observations.states), 4), np.nan)

    with pytest.raises(RuntimeError, match=r"rollout of reach-v3 crashed at step 0: ValueError"):
        success_rates(broken, ("reach-v3",), episodes=1, seed=0, image_size=32, camera="corner", horizon=5)
