"""Dynamic Weight Average (Liu et al., 2019) over windows of steps."""

import math

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.weighting import DynamicWeightAverage


def weigh(strategy, step, **losses):
    _, weights = strategy.weigh({task: torch.tensor(value) for task, value in losses.items()}, step)
    return {task: weight.item() for task, weight in weights.items()}


def test_equal_weights_until_two_windows_then_softmax_of_descent_rates():
    strategy = DynamicWeightAverage(["a", "b"], temperature=2.0, window=2)
    for step, (a, b) in enumerate([(5.0, 2.0), (3.0, 2.0), (2.0, 3.0), (2.0, 1.0)]):
        assert weigh(strategy, step, a=a, b=b) == {"a": 1.0, "b": 1.0}
    # Window means: a 4 then 2 (rate 0.5), b 2 then 2 (rate 1).
    exponentials = [math.exp(0.5 / 2.0), math.exp(1.0 / 2.0)]
    expected = {"a": 2 * exponentials[0] / sum(exponentials), "b": 2 * exponentials[1] / sum(exponentials)}
    assert weigh(strategy, 4, a=1.0, b=1.0) == pytest.approx(expected)
    assert strategy.current_weights() == pytest.approx(expected)


def test_total_is_the_weighted_sum():
    strategy = DynamicWeightAverage(["a", "b"], window=1)
    strategy.weigh({"a": torch.tensor(2.0), "b": torch.tensor(1.0)}, 0)
    strategy.weigh({"a": torch.tensor(1.0), "b": torch.tensor(1.0)}, 1)
    total, weights = strategy.weigh({"a": torch.tensor(3.0), "b": torch.tensor(5.0)}, 2)
    assert total.item() == pytest.approx(3 * weights["a"].item() + 5 * weights["b"].item())
    assert weights["a"].item() < 1.0 < weights["b"].item()


def test_windows_count_observations_per_task():
    strategy = DynamicWeightAverage(["a", "b"], window=2)
    weigh(strategy, 0, a=4.0, b=2.0)
    weigh(strategy, 1, b=2.0)
    weigh(strategy, 2, a=4.0, b=2.0)
    assert strategy.complete_windows == [1, 1]
    assert strategy.window_counts == [0, 1]


def test_invalid_hyperparameters():
    with pytest.raises(UserError, match="'temperature'"):
        DynamicWeightAverage(["a"], temperature=0.0)
    with pytest.raises(UserError, match="'window'"):
        DynamicWeightAverage(["a"], window=0)
