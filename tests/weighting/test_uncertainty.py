"""Uncertainty weighting (Kendall et al., 2018): formula, gradients and the s = log L optimum."""

import math

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.weighting import UncertaintyWeighting


def test_regression_and_classification_forms():
    strategy = UncertaintyWeighting(["reg", "cls"], forms={"cls": "classification"}, init=0.3)
    total, weights = strategy.weigh({"reg": torch.tensor(2.0), "cls": torch.tensor(5.0)}, step=0)
    expected = 0.5 * math.exp(-0.3) * 2.0 + 0.15 + math.exp(-0.3) * 5.0 + 0.15
    assert total.item() == pytest.approx(expected)
    assert weights["reg"].item() == pytest.approx(0.5 * math.exp(-0.3))
    assert weights["cls"].item() == pytest.approx(math.exp(-0.3))
    assert strategy.current_weights() == pytest.approx({"reg": 0.5 * math.exp(-0.3), "cls": math.exp(-0.3)})


def test_log_variances_are_the_only_parameters():
    strategy = UncertaintyWeighting(["a", "b"])
    assert [name for name, _ in strategy.named_parameters()] == ["log_variances"]


def test_gradients_match_the_formula_and_gradcheck():
    strategy = UncertaintyWeighting(["a", "b"], forms={"b": "classification"}, init=0.2).double()
    losses = {"a": torch.tensor(1.5, dtype=torch.double), "b": torch.tensor(0.7, dtype=torch.double)}
    strategy.weigh(losses, 0)[0].backward()
    # d/ds (c e^{-s} L + s/2) = -c e^{-s} L + 1/2
    expected = [-0.5 * math.exp(-0.2) * 1.5 + 0.5, -math.exp(-0.2) * 0.7 + 0.5]
    assert strategy.log_variances.grad.tolist() == pytest.approx(expected)

    def total(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return strategy.weigh({"a": a, "b": b}, 0)[0]

    inputs = tuple(torch.tensor(value, dtype=torch.double, requires_grad=True) for value in (1.5, 0.7))
    assert torch.autograd.gradcheck(total, inputs)


@pytest.mark.parametrize(("form", "optimum"), [("regression", math.log(4.0)), ("classification", math.log(8.0))])
def test_log_variance_converges_to_its_optimum_on_a_fixed_loss(form, optimum):
    # d/ds (c e^{-s} L + s/2) = 0  ⇒  s = log(2 c L): log L for regression, log 2L for classification.
    strategy = UncertaintyWeighting(["task"], forms={"task": form})
    optimizer = torch.optim.Adam(strategy.parameters(), lr=0.05)
    for step in range(600):
        total, _ = strategy.weigh({"task": torch.tensor(4.0)}, step)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert strategy.log_variances.item() == pytest.approx(optimum, abs=1e-2)


def test_invalid_forms_are_rejected():
    with pytest.raises(UserError, match=r"forms\.a"):
        UncertaintyWeighting(["a"], forms={"a": "ranking"})
    with pytest.raises(UserError, match="'forms'"):
        UncertaintyWeighting(["a"], forms={"b": "regression"})
