"""CompositeLoss: records, non-finite losses, task checks and gradient diagnostics."""

import math

import pytest
import torch
from torch import nn

from weightsearch.composite import CompositeLoss
from weightsearch.errors import NonFiniteLossError, UserError
from weightsearch.weighting import make_normalizer, make_strategy


def fixed_composite(normalization: str = "none") -> CompositeLoss:
    tasks = ("action", "align", "recon")
    strategy = make_strategy("fixed", tasks, weights={"action": 2.0, "align": 0.5})
    return CompositeLoss(strategy, make_normalizer(normalization, tasks))


def test_record_holds_raw_normalized_weights_and_contributions():
    composite = fixed_composite()
    losses = {"action": torch.tensor(3.0, requires_grad=True), "align": torch.tensor(4.0), "recon": torch.tensor(1.5)}
    record = composite(losses, step=0)
    assert record.total.item() == pytest.approx(2 * 3 + 0.5 * 4 + 1.5)
    assert record.raw == {"action": 3.0, "align": 4.0, "recon": 1.5}
    assert record.normalized == record.raw
    assert record.weights == {"action": 2.0, "align": 0.5, "recon": 1.0}
    assert record.contributions == {"action": 6.0, "align": 2.0, "recon": 1.5}
    record.total.backward()
    assert losses["action"].grad.item() == pytest.approx(2.0)


def test_metrics_use_the_documented_names():
    record = fixed_composite()({"action": torch.tensor(3.0), "align": torch.tensor(4.0)}, step=0)
    assert record.metrics() == {
        "train/loss/action": 3.0,
        "train/loss/align": 4.0,
        "train/loss_norm/action": 3.0,
        "train/loss_norm/align": 4.0,
        "train/weight/action": 2.0,
        "train/weight/align": 0.5,
        "train/contrib/action": 6.0,
        "train/contrib/align": 2.0,
        "train/loss/total": 8.0,
    }
    assert "val/loss/total" in record.metrics(prefix="val")


def test_absent_task_contributes_nothing_and_records_only_present_tasks():
    record = fixed_composite()({"recon": torch.tensor(2.0)}, step=3)
    assert record.total.item() == 2.0
    assert list(record.raw) == ["recon"]
    assert list(record.weights) == ["recon"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_loss_raises_with_task_step_and_value(value):
    composite = fixed_composite("initial")
    with pytest.raises(NonFiniteLossError) as raised:
        composite({"action": torch.tensor(1.0), "align": torch.tensor(value)}, step=7)
    assert (raised.value.task, raised.value.step) == ("align", 7)
    assert raised.value.value == value or math.isnan(raised.value.value)
    # The check precedes any state update: the normalizer saw nothing.
    assert composite.normalizer.counts == [0, 0, 0]


def test_unknown_task_and_non_scalar_losses_are_rejected():
    composite = fixed_composite()
    with pytest.raises(ValueError, match="'depth'"):
        composite({"depth": torch.tensor(1.0)}, step=0)
    with pytest.raises(ValueError, match="'action'"):
        composite({"action": torch.ones(2)}, step=0)
    with pytest.raises(ValueError, match="no task losses"):
        composite({}, step=0)


def test_normalizer_tasks_must_match_strategy_tasks():
    with pytest.raises(ValueError, match="differ"):
        CompositeLoss(make_strategy("fixed", ["a", "b"]), make_normalizer("none", ["a"]))


def test_diagnostics_cosines_of_identical_and_opposite_gradients():
    shared = nn.Linear(3, 3)
    head_input = torch.randn(5, 3)
    features = shared(head_input)
    base = features.pow(2).mean()
    composite = CompositeLoss(make_strategy("fixed", ["a", "b", "c"]))
    record = composite({"a": base, "b": 2 * base, "c": -base}, step=0, shared_parameters=list(shared.parameters()),
                       diagnostics=True)
    assert record.grad_cosines["a-b"] == pytest.approx(1.0, abs=1e-6)
    assert record.grad_cosines["a-c"] == pytest.approx(-1.0, abs=1e-6)
    assert record.grad_cosines["b-c"] == pytest.approx(-1.0, abs=1e-6)
    assert record.grad_norms["b"] == pytest.approx(2 * record.grad_norms["a"], rel=1e-6)
    metrics = record.metrics()
    assert metrics["train/grad_cos/a-c"] == pytest.approx(-1.0, abs=1e-6)
    assert metrics["train/grad_norm/a"] == record.grad_norms["a"]
    # The graph survives the diagnostics, so the trainer can still backpropagate the total.
    record.total.backward()
    assert shared.weight.grad is not None


def test_diagnostics_need_shared_parameters_and_are_off_by_default():
    composite = fixed_composite()
    record = composite({"action": torch.tensor(1.0)}, step=0)
    assert record.grad_norms == {} and record.grad_cosines == {}
    with pytest.raises(ValueError, match="shared_parameters"):
        composite({"action": torch.tensor(1.0)}, step=0, diagnostics=True)


def test_state_dict_carries_normalizer_state():
    composite = fixed_composite("initial")
    composite({"action": torch.tensor(4.0), "align": torch.tensor(2.0)}, step=0)
    restored = fixed_composite("initial")
    restored.load_state_dict(composite.state_dict())
    record = restored({"action": torch.tensor(2.0), "align": torch.tensor(2.0)}, step=1)
    assert record.normalized == {"action": 0.5, "align": 1.0}


def test_parameters_are_exactly_what_the_main_optimizer_trains():
    tasks = ["a", "b"]
    uncertainty = CompositeLoss(make_strategy("uncertainty", tasks))
    assert [name for name, _ in uncertainty.named_parameters()] == ["strategy.log_variances"]
    for name in ("gradnorm", "famo", "dwa", "rlw", "fixed"):
        assert list(CompositeLoss(make_strategy(name, tasks)).parameters()) == []


def test_gradient_strategies_get_the_shared_parameters():
    shared = nn.Linear(2, 2)
    features = shared(torch.ones(3, 2))
    composite = CompositeLoss(make_strategy("gradnorm", ["a", "b"]), make_normalizer("initial", ["a", "b"]))
    losses = {"a": features[:, 0].pow(2).mean(), "b": features[:, 1].abs().mean()}
    with pytest.raises(ValueError, match="shared_parameters"):
        composite(losses, step=0)
    record = composite(losses, step=0, shared_parameters=list(shared.parameters()))
    assert record.normalized == pytest.approx({"a": 1.0, "b": 1.0})
    assert sum(composite.strategy.current_weights().values()) == pytest.approx(2.0)
    record.total.backward()


@pytest.mark.parametrize("strategy", ["famo", "dwa", "gradnorm"])
def test_strategies_taking_ratios_or_logs_refuse_the_log_normalizer(strategy):
    with pytest.raises(UserError, match=rf"'log'.*'{strategy}'"):
        CompositeLoss(make_strategy(strategy, ["a"]), make_normalizer("log", ["a"]))
    CompositeLoss(make_strategy(strategy, ["a"]), make_normalizer("ema", ["a"]))
