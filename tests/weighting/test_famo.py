"""FAMO (Liu et al., 2023): c_t-normalised weights and the logit update from consecutive steps."""

import math

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.weighting import FAMO


def weigh(strategy, step, **losses):
    tensors = {task: torch.tensor(value, requires_grad=True) for task, value in losses.items()}
    total, weights = strategy.weigh(tensors, step)
    total.backward()
    return total.item(), {task: weight.item() for task, weight in weights.items()}, tensors


def test_first_step_weights_are_inverse_losses_normalised():
    strategy = FAMO(["a", "b"])
    total, weights, tensors = weigh(strategy, 0, a=2.0, b=8.0)
    # z = (½, ½); c = 1 / (½/2 + ½/8) = 3.2; w = c z / L = (0.8, 0.2).
    assert weights == pytest.approx({"a": 0.8, "b": 0.2})
    assert total == pytest.approx(3.2)
    # The gradient equals that of c Σ z_i log L_i: c z_i / L_i.
    assert tensors["a"].grad.item() == pytest.approx(0.8)


def test_logits_follow_the_change_of_log_losses():
    lr, gamma = 0.5, 0.1
    strategy = FAMO(["a", "b"], lr=lr, gamma=gamma)
    weigh(strategy, 0, a=2.0, b=8.0)
    _, weights, _ = weigh(strategy, 1, a=1.0, b=8.0)
    # a's log-loss fell by log 2, b's did not: δ = z ⊙ (d - z·d) with z = (½, ½), ξ = 0 before.
    decrease = [math.log(2.0), 0.0]
    mean = 0.5 * decrease[0] + 0.5 * decrease[1]
    logits = [-lr * 0.5 * (value - mean) for value in decrease]
    assert strategy.logits.tolist() == pytest.approx(logits)
    softmax = [math.exp(value) / sum(math.exp(v) for v in logits) for value in logits]
    inverse = [softmax[0] / 1.0, softmax[1] / 8.0]
    assert weights == pytest.approx({"a": inverse[0] / sum(inverse), "b": inverse[1] / sum(inverse)})
    # The decay term: another step with no change only shrinks the logits.
    weigh(strategy, 2, a=1.0, b=8.0)
    assert strategy.logits.tolist() == pytest.approx([value * (1 - lr * gamma) for value in logits])


def test_only_tasks_present_at_consecutive_steps_update():
    strategy = FAMO(["a", "b", "c"], lr=1.0)
    weigh(strategy, 0, a=2.0, b=2.0)
    weigh(strategy, 1, a=1.0, c=5.0)
    # a alone participated (b absent now, c absent before): a one-task softmax has δ = 0.
    assert strategy.logits.tolist() == [0.0, 0.0, 0.0]
    weigh(strategy, 2, a=0.5, c=5.0)
    assert strategy.logits[0].item() < 0.0 < strategy.logits[2].item()
    assert strategy.logits[1].item() == 0.0


def test_invalid_hyperparameters():
    with pytest.raises(UserError, match="'lr'"):
        FAMO(["a"], lr=-1.0)
    with pytest.raises(UserError, match="'gamma'"):
        FAMO(["a"], gamma=-0.1)
