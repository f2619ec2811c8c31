"""Importance weights: w_i = T·p_i/Σp."""

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.weighting import ImportanceWeighting


def test_weights_are_priorities_scaled_to_sum_to_task_count():
    strategy = ImportanceWeighting(["action", "align", "recon"], priorities={"action": 4.0})
    expected = {"action": 3 * 4 / 6, "align": 3 * 1 / 6, "recon": 3 * 1 / 6}
    assert strategy.current_weights() == pytest.approx(expected)
    total, weights = strategy.weigh({"action": torch.tensor(1.0), "recon": torch.tensor(3.0)}, step=0)
    assert total.item() == pytest.approx(2.0 + 0.5 * 3)
    assert {task: weight.item() for task, weight in weights.items()} == pytest.approx(
        {"action": 2.0, "recon": 0.5}
    )


def test_all_zero_or_negative_priorities_are_rejected():
    with pytest.raises(UserError, match="'priorities'"):
        ImportanceWeighting(["a", "b"], priorities={"a": 0.0, "b": 0.0})
    with pytest.raises(UserError, match=r"priorities\.b"):
        ImportanceWeighting(["a", "b"], priorities={"b": -2.0})
