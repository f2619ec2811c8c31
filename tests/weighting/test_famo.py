"""FAMO (Liu et al., 2023): c_t-normalised weights and Adam on the logits from consecutive steps' losses."""

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


def test_first_step_weights_are_inverse_losses_normalised_to_average_one():
    strategy = FAMO(["a", "b"])
    total, weights, tensors = weigh(strategy, 0, a=2.0, b=8.0)
    # z = (½, ½); c = 1 / (½/2 + ½/8) = 3.2; the paper's c z / L = (0.8, 0.2), times T = 2.
    assert weights == pytest.approx({"a": 1.6, "b": 0.4})
    assert total == pytest.approx(2 * 3.2)
    # The gradient is T times that of c Σ z_i log L_i: T c z_i / L_i.
    assert tensors["a"].grad.item() == pytest.approx(1.6)


def test_logits_take_an_adam_step_on_the_change_of_log_losses():
    lr, gamma = 0.5, 0.1
    strategy = FAMO(["a", "b"], lr=lr, gamma=gamma)
    weigh(strategy, 0, a=2.0, b=8.0)
    _, weights, _ = weigh(strategy, 1, a=1.0, b=8.0)
    # a's log-loss fell by log 2, b's did not: δ = z ⊙ (d - z·d) with z = (½, ½), ξ = 0 before.
    decrease = [math.log(2.0), 0.0]
    mean = 0.5 * decrease[0] + 0.5 * decrease[1]
    delta = [0.5 * (value - mean) for value in decrease]
    # Adam's first step (weight decay adds γ ξ = 0): m̂ / (√v̂ + eps) = sign(δ), so ξ = -lr sign(δ).
    logits = [-lr * math.copysign(1.0, value) for value in delta]
    assert strategy.logits.tolist() == pytest.approx(logits, abs=1e-6)
    softmax = [math.exp(value) / sum(math.exp(v) for v in logits) for value in logits]
    inverse = [softmax[0] / 1.0, softmax[1] / 8.0]
    assert weights == pytest.approx({"a": 2 * inverse[0] / sum(inverse), "b": 2 * inverse[1] / sum(inverse)})
    assert strategy.adam_steps.tolist() == [1.0, 1.0]


def test_adam_state_matches_torch_adam_with_weight_decay():
    lr, gamma = 0.05, 0.01
    strategy = FAMO(["a", "b", "c"], lr=lr, gamma=gamma)
    logits = torch.zeros(3, requires_grad=True)
    adam = torch.optim.Adam([logits], lr=lr, weight_decay=gamma)
    generator = torch.Generator().manual_seed(0)
    previous = None
    for step in range(30):
        losses = torch.rand(3, generator=generator) + 0.1
        weigh(strategy, step, **dict(zip("abc", losses.tolist())))
        if previous is not None:
            decrease = previous.log() - losses.log()
            adam.zero_grad()
            logits.grad = torch.autograd.grad(torch.softmax(logits, 0), logits, grad_outputs=decrease)[0]
            adam.step()
        previous = losses
    assert torch.allclose(strategy.logits, logits.detach(), atol=1e-6)
    assert torch.allclose(strategy.first_moments, adam.state[logits]["exp_avg"], atol=1e-7)
    assert torch.allclose(strategy.second_moments, adam.state[logits]["exp_avg_sq"], atol=1e-9)


def test_only_tasks_present_at_consecutive_steps_update():
    strategy = FAMO(["a", "b", "c"], lr=1.0)
    weigh(strategy, 0, a=2.0, b=2.0)
    weigh(strategy, 1, a=1.0, c=5.0)
    # a alone participated (b absent now, c absent before): a one-task softmax has δ = 0, and the
    # Adam step of a zero gradient at ξ = 0 leaves ξ = 0.
    assert strategy.logits.tolist() == [0.0, 0.0, 0.0]
    assert strategy.adam_steps.tolist() == [1.0, 0.0, 0.0]
    weigh(strategy, 2, a=0.5, c=5.0)
    assert strategy.logits[0].item() < 0.0 < strategy.logits[2].item()
    assert strategy.logits[1].item() == 0.0
    assert strategy.adam_steps.tolist() == [2.0, 0.0, 1.0]


def test_invalid_hyperparameters():
    with pytest.raises(UserError, match="'lr'"):
        FAMO(["a"], lr=-1.0)
    with pytest.raises(UserError, match="'gamma'"):
        FAMO(["a"], gamma=-0.1)
