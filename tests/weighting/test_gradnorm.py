"""GradNorm (Chen et al., 2018): one hand-computed update and the paper's toy problem."""

import pytest
import torch
from torch import nn

from weightsearch.errors import UserError
from weightsearch.weighting import GradNormWeighting


def test_first_update_by_hand():
    theta = torch.tensor([2.0], requires_grad=True)
    strategy = GradNormWeighting(["a", "b"], alpha=1.5, lr=0.1)
    # ∇L_a = 3, ∇L_b = 2θ = 4; at step 0 every loss ratio is 1, so the target is mean(G) = 3.5.
    total, weights = strategy.weigh({"a": 3 * theta.sum(), "b": theta.pow(2).sum()}, 0, [theta])
    assert total.item() == pytest.approx(6.0 + 4.0)
    assert [weight.item() for weight in weights.values()] == [1.0, 1.0]
    stepped = [1 + 0.1 * 3, 1 - 0.1 * 4]
    expected = [weight * 2 / sum(stepped) for weight in stepped]
    assert list(strategy.current_weights().values()) == pytest.approx(expected)


def test_second_update_uses_relative_inverse_training_rates():
    theta = torch.tensor([1.0], requires_grad=True)
    strategy = GradNormWeighting(["a", "b"], alpha=2.0, lr=0.01)
    strategy.weigh({"a": theta.sum(), "b": theta.sum()}, 0, [theta])
    # Equal gradients: the first update leaves w = (1, 1). Now L_a/L_a(0) = 1, L_b/L_b(0) = 0.5.
    assert list(strategy.current_weights().values()) == pytest.approx([1.0, 1.0])
    strategy.weigh({"a": theta.sum(), "b": 0.5 * theta.sum()}, 1, [theta])
    # r = (4/3, 2/3); G = (1, 0.5); Ḡ = 0.75; targets = 0.75·r² = (4/3, 1/3).
    stepped = [1 + 0.01 * 1.0, 1 - 0.01 * 0.5]
    expected = [weight * 2 / sum(stepped) for weight in stepped]
    assert list(strategy.current_weights().values()) == pytest.approx(expected)


def test_initial_loss_is_the_mean_over_the_window():
    theta = torch.tensor([1.0], requires_grad=True)
    strategy = GradNormWeighting(["a"], window=2)
    for step, value in enumerate([4.0, 2.0, 1.0]):
        strategy.weigh({"a": value * theta.sum()}, step, [theta])
    assert strategy.initial_sums.item() == 6.0 and strategy.initial_counts == [2]
    assert strategy.initial_losses.item() == 3.0


def test_paper_toy_raises_the_weight_of_the_small_scale_task():
    # Chen et al. §4: f_i(x) = σ_i tanh((B + ε_i) x); σ = (1, 100) makes task b's gradients dominate.
    generator = torch.Generator().manual_seed(0)
    inputs, outputs = 20, 10
    base = torch.randn(outputs, inputs, generator=generator)
    epsilons = [0.3 * torch.randn(outputs, inputs, generator=generator) for _ in range(2)]
    sigmas = (1.0, 100.0)
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(inputs, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
    heads = nn.ModuleList([nn.Linear(32, outputs) for _ in range(2)])
    strategy = GradNormWeighting(["small", "large"], alpha=0.12, lr=0.025)
    optimizer = torch.optim.Adam(list(trunk.parameters()) + list(heads.parameters()), lr=1e-3)
    for step in range(40):
        x = torch.randn(64, inputs, generator=generator)
        features = trunk(x)
        losses = {
            task: (heads[index](features) - sigmas[index] * torch.tanh(x @ (base + epsilons[index]).T)).pow(2).mean()
            for index, task in enumerate(("small", "large"))
        }
        total, _ = strategy.weigh(losses, step, list(trunk[2].parameters()))
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    weights = strategy.current_weights()
    assert weights["small"] > 1.5 > 0.5 > weights["large"]
    assert sum(weights.values()) == pytest.approx(2.0, abs=1e-5)


def test_needs_shared_parameters_and_valid_hyperparameters():
    assert GradNormWeighting.needs_shared_parameters
    with pytest.raises(ValueError, match="shared parameters"):
        GradNormWeighting(["a"]).weigh({"a": torch.tensor(1.0)}, 0)
    with pytest.raises(UserError, match="'lr'"):
        GradNormWeighting(["a"], lr=0.0)
    with pytest.raises(UserError, match="'alpha'"):
        GradNormWeighting(["a"], alpha=-1.0)
