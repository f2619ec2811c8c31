"""The torchjd adapter: weights from torchjd's aggregators applied to the task losses."""

import importlib.util

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.weighting import TorchJDWeighting, make_strategy

pytest.importorskip("torchjd")
from torchjd.aggregation import IMTLG, MGDA  # noqa: E402

JACOBIAN = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])


def linear_losses(theta):
    # L_i = J_i · θ, so ∇_θ L_i is row i of JACOBIAN.
    return {"a": JACOBIAN[0] @ theta, "b": JACOBIAN[1] @ theta}


def upgrad():
    pytest.importorskip("quadprog")
    from torchjd.aggregation import UPGrad

    return UPGrad()


@pytest.mark.parametrize(("name", "make_aggregator"), [("mgda", MGDA), ("imtlg", IMTLG), ("upgrad", upgrad)])
def test_weights_are_those_of_the_torchjd_weighting(name, make_aggregator):
    aggregator = make_aggregator()
    theta = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
    strategy = make_strategy("torchjd", ["a", "b"], aggregator=name)
    losses = linear_losses(theta)
    total, weights = strategy.weigh(losses, 0, [theta])
    expected = aggregator.weighting(JACOBIAN)
    assert torch.allclose(torch.stack(list(weights.values())), expected, atol=1e-5)
    assert total.item() == pytest.approx(float(expected @ torch.stack(list(losses.values())).detach()), rel=1e-5)
    total.backward()
    assert torch.allclose(theta.grad, expected @ JACOBIAN, atol=1e-5)


def test_unknown_aggregator_and_bad_options_are_user_errors():
    with pytest.raises(UserError, match=r"'aggregator'.*'upgrad'"):
        TorchJDWeighting(["a"], aggregator="bogus")
    with pytest.raises(UserError, match="'options'"):
        TorchJDWeighting(["a"], aggregator="mgda", options={"nonsense": 1})
    with pytest.raises(UserError, match=r"missing required parameter\(s\) \['aggregator'\]"):
        make_strategy("torchjd", ["a"])


@pytest.mark.skipif(importlib.util.find_spec("quadprog") is not None, reason="quadprog is installed")
def test_missing_optional_solver_is_a_user_error():
    with pytest.raises(UserError, match="upgrad.*quadprog"):
        TorchJDWeighting(["a", "b"], aggregator="upgrad")


def test_stateful_aggregators_need_every_task():
    theta = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
    strategy = TorchJDWeighting(["a", "b"], aggregator="gradvac")
    with pytest.raises(ValueError, match="every task"):
        strategy.weigh({"a": JACOBIAN[0] @ theta}, 0, [theta])
