"""Random loss weighting (Lin et al., 2021): seeded softmax-of-normal weights, averaging 1 over present tasks."""

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.weighting import RandomLossWeighting


def test_weights_are_softmax_of_seeded_normal_draws():
    strategy = RandomLossWeighting(["a", "b", "c"], seed=7)
    generator = torch.Generator().manual_seed(7)
    for step in range(3):
        draws = torch.randn(3, generator=generator)
        losses = {"a": torch.tensor(1.0), "b": torch.tensor(2.0), "c": torch.tensor(3.0)}
        total, weights = strategy.weigh(losses, step)
        expected = 3 * torch.softmax(draws, dim=0)
        assert torch.allclose(torch.stack(list(weights.values())), expected)
        assert total.item() == pytest.approx(float(expected @ torch.tensor([1.0, 2.0, 3.0])))


def test_softmax_runs_over_present_tasks_and_the_stream_ignores_absence():
    strategy = RandomLossWeighting(["a", "b", "c"], seed=1)
    draws = torch.randn(3, generator=torch.Generator().manual_seed(1))
    _, weights = strategy.weigh({"a": torch.tensor(1.0), "c": torch.tensor(1.0)}, 0)
    assert torch.allclose(torch.stack(list(weights.values())), 2 * torch.softmax(draws[[0, 2]], dim=0))


def test_different_seeds_draw_different_weights():
    losses = {"a": torch.tensor(1.0), "b": torch.tensor(1.0)}
    first = RandomLossWeighting(["a", "b"], seed=0).weigh(losses, 0)[1]
    second = RandomLossWeighting(["a", "b"], seed=1).weigh(losses, 0)[1]
    assert first["a"].item() != second["a"].item()


def test_seed_must_be_an_integer():
    with pytest.raises(UserError, match="'seed'"):
        RandomLossWeighting(["a"], seed=0.5)
