"""GradNorm (Chen et al., 2018): hand-computed updates and the paper's toy problem at the defaults."""

import math
import statistics

import pytest
import torch
from torch import nn

from weightsearch.errors import UserError
from weightsearch.weighting import GradNormWeighting, make_normalizer, task_gramian


def renormalised(values, total):
    return [value * total / sum(values) for value in values]


def test_first_update_by_hand():
    theta = torch.tensor([2.0], requires_grad=True)
    lr = 0.1
    strategy = GradNormWeighting(["a", "b"], alpha=1.5, lr=lr)
    # ∇L_a = 3, ∇L_b = 2θ = 4; G = (3, 4), Ḡ = 3.5; at step 0 every loss ratio is 1, so the target is Ḡ.
    total, weights = strategy.weigh({"a": 3 * theta.sum(), "b": theta.pow(2).sum()}, 0, [theta])
    assert total.item() == pytest.approx(6.0 + 4.0)
    assert [weight.item() for weight in weights.values()] == [1.0, 1.0]
    # w_i ← w_i exp(-lr sign(G_i - target) G_i / Ḡ): a is below its target, b above.
    stepped = [math.exp(lr * 3 / 3.5), math.exp(-lr * 4 / 3.5)]
    assert list(strategy.current_weights().values()) == pytest.approx(renormalised(stepped, 2.0))


def test_second_update_uses_relative_inverse_training_rates():
    theta = torch.tensor([1.0], requires_grad=True)
    lr = 0.01
    strategy = GradNormWeighting(["a", "b"], alpha=2.0, lr=lr)
    strategy.weigh({"a": theta.sum(), "b": theta.sum()}, 0, [theta])
    # Equal gradients: the first update leaves w = (1, 1). Now L_a/L_a(0) = 1, L_b/L_b(0) = 0.5.
    assert list(strategy.current_weights().values()) == pytest.approx([1.0, 1.0])
    strategy.weigh({"a": theta.sum(), "b": 0.5 * theta.sum()}, 1, [theta])
    # r = (4/3, 2/3); G = (1, 0.5); Ḡ = 0.75; targets = 0.75·r² = (4/3, 1/3): a below, b above.
    stepped = [math.exp(lr * 1.0 / 0.75), math.exp(-lr * 0.5 / 0.75)]
    assert list(strategy.current_weights().values()) == pytest.approx(renormalised(stepped, 2.0))


def test_weights_stay_when_no_loss_reaches_the_shared_layer():
    theta, other = torch.tensor([1.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)
    strategy = GradNormWeighting(["a", "b"])
    strategy.weigh({"a": other.sum(), "b": 2 * other.sum()}, 0, [theta])
    assert list(strategy.current_weights().values()) == [1.0, 1.0]


def test_initial_loss_is_the_mean_over_the_window():
    theta = torch.tensor([1.0], requires_grad=True)
    strategy = GradNormWeighting(["a"], window=2)
    for step, value in enumerate([4.0, 2.0, 1.0]):
        strategy.weigh({"a": value * theta.sum()}, step, [theta])
    assert strategy.initial_sums.item() == 6.0 and strategy.initial_counts == [2]
    assert strategy.initial_losses.item() == 3.0


def paper_toy(scale=1.0, normalization="none", steps=300, tail=50):
    """Chen et al. §4, T = 2: f_i(x) = σ_i tanh((B + ε_i) x), σ = (1, 100), α = 0.12, the other settings default.

    Returns the median of G_2/G_1 and each weight's coefficient of variation over the last ``tail`` steps.
    """
    generator = torch.Generator().manual_seed(0)
    inputs, outputs = 20, 10
    base = torch.randn(outputs, inputs, generator=generator)
    epsilons = [0.3 * torch.randn(outputs, inputs, generator=generator) for _ in range(2)]
    sigmas = (1.0, 100.0)
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(inputs, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
    heads = nn.ModuleList([nn.Linear(32, outputs) for _ in range(2)])
    tasks = ("small", "large")
    strategy = GradNormWeighting(tasks, alpha=0.12)
    normalizer = make_normalizer(normalization, tasks)
    optimizer = torch.optim.Adam([*trunk.parameters(), *heads.parameters()], lr=1e-3)
    shared = list(trunk[2].parameters())
    ratios, weights = [], []
    for step in range(steps):
        x = torch.randn(64, inputs, generator=generator)
        features = trunk(x)
        targets = [sigma * torch.tanh(x @ (base + epsilon).T) for sigma, epsilon in zip(sigmas, epsilons)]
        raw = {
            task: scale * (heads[index](features) - targets[index]).pow(2).mean() for index, task in enumerate(tasks)
        }
        losses = normalizer.normalize(raw, step)
        total, step_weights = strategy.weigh(losses, step, shared)
        if step >= steps - tail:
            step_weights = torch.stack(list(step_weights.values()))
            norms = step_weights * task_gramian(torch.stack(list(losses.values())), shared).diagonal().sqrt()
            ratios.append((norms[1] / norms[0]).item())
            weights.append(step_weights.tolist())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    variation = [statistics.pstdev(column) / statistics.mean(column) for column in zip(*weights)]
    return statistics.median(ratios), variation


@pytest.fixture
def one_thread():
    # Steps this small are launch-bound: a second intra-op thread only adds waits (30× on a busy machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_paper_toy_settles_at_equal_weighted_gradient_norms_at_the_defaults(one_thread):
    ratio, variation = paper_toy()
    assert 0.8 <= ratio <= 1.25
    assert max(variation) <= 0.2


@pytest.mark.parametrize(("scale", "normalization"), [(1e-2, "none"), (1e2, "ema")])
def test_paper_toy_settles_at_any_loss_scale(one_thread, scale, normalization):
    ratio, variation = paper_toy(scale, normalization)
    assert 0.8 <= ratio <= 1.25
    assert max(variation) <= 0.2


def test_needs_shared_parameters_and_valid_hyperparameters():
    assert GradNormWeighting.needs_shared_parameters
    with pytest.raises(ValueError, match="shared parameters"):
        GradNormWeighting(["a"]).weigh({"a": torch.tensor(1.0)}, 0)
    with pytest.raises(UserError, match="'lr'"):
        GradNormWeighting(["a"], lr=0.0)
    with pytest.raises(UserError, match="'alpha'"):
        GradNormWeighting(["a"], alpha=-1.0)
