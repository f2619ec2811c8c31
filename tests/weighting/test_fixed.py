"""Fixed weights: the plain weighted sum."""

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.weighting import FixedWeighting


def test_weighted_sum_with_default_weight_one():
    strategy = FixedWeighting(["a", "b", "c"], weights={"a": 0.25, "c": 3.0})
    losses = {"a": torch.tensor(4.0), "b": torch.tensor(2.0), "c": torch.tensor(1.0)}
    total, weights = strategy.weigh(losses, step=0)
    assert total.item() == pytest.approx(0.25 * 4 + 2 + 3)
    assert {task: weight.item() for task, weight in weights.items()} == {"a": 0.25, "b": 1.0, "c": 3.0}
    assert strategy.current_weights() == {"a": 0.25, "b": 1.0, "c": 3.0}


def test_gradient_of_each_loss_is_its_weight():
    strategy = FixedWeighting(["a", "b"], weights={"a": 0.5, "b": 2.0})
    losses = {"a": torch.tensor(1.0, requires_grad=True), "b": torch.tensor(1.0, requires_grad=True)}
    total, _ = strategy.weigh(losses, step=0)
    total.backward()
    assert (losses["a"].grad.item(), losses["b"].grad.item()) == (0.5, 2.0)


def test_invalid_weights_raise_user_errors_naming_the_parameter():
    with pytest.raises(UserError, match=r"'weights'.*'z'"):
        FixedWeighting(["a"], weights={"z": 1.0})
    with pytest.raises(UserError, match=r"weights\.a.*>= 0"):
        FixedWeighting(["a"], weights={"a": -1.0})
    with pytest.raises(UserError, match=r"weights\.a.*number"):
        FixedWeighting(["a"], weights={"a": "heavy"})
    with pytest.raises(UserError, match="unique"):
        FixedWeighting(["a", "a"])


def test_weights_are_not_checkpointed_state():
    assert FixedWeighting(["a"], weights={"a": 2.0}).state_dict() == {}
