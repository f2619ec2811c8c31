"""Loss normalizers: formulas, per-task counting of absent steps, state round-trips."""

import copy
import math

import pytest
import torch

from weightsearch.weighting import make_normalizer


def values(normalized):
    return {task: loss.item() for task, loss in normalized.items()}


def test_none_is_identity():
    loss = torch.tensor(3.0, requires_grad=True)
    assert make_normalizer("none", ["a"]).normalize({"a": loss}, step=0)["a"] is loss


def test_initial_divides_by_mean_of_first_k_losses_counted_per_task():
    normalizer = make_normalizer("initial", ["a", "b"], k=2)
    assert values(normalizer.normalize({"a": torch.tensor(4.0)}, 0)) == {"a": 1.0}
    # b's first loss: its own running mean so far; a's second: mean(4, 2) = 3.
    assert values(normalizer.normalize({"a": torch.tensor(2.0), "b": torch.tensor(10.0)}, 1)) == pytest.approx(
        {"a": 2 / 3, "b": 1.0}
    )
    # a is frozen at 3; b's second loss completes its window: mean(10, 30) = 20.
    assert values(normalizer.normalize({"a": torch.tensor(6.0), "b": torch.tensor(30.0)}, 2)) == pytest.approx(
        {"a": 2.0, "b": 1.5}
    )
    assert values(normalizer.normalize({"b": torch.tensor(5.0)}, 3)) == pytest.approx({"b": 0.25})


def test_initial_denominator_is_detached():
    loss = torch.tensor(2.0, requires_grad=True)
    make_normalizer("initial", ["a"]).normalize({"a": loss}, 0)["a"].backward()
    assert loss.grad.item() == pytest.approx(0.5)


def test_ema_divides_by_bias_corrected_average():
    decay = 0.5
    normalizer = make_normalizer("ema", ["a", "b"], decay=decay)
    assert values(normalizer.normalize({"a": torch.tensor(2.0)}, 0)) == {"a": 1.0}
    normalizer.normalize({"b": torch.tensor(7.0)}, 1)
    # a: m = 0.5·(0.5·2) + 0.5·4 = 2.5, corrected by 1 - 0.25 → 10/3.
    assert values(normalizer.normalize({"a": torch.tensor(4.0)}, 2)) == pytest.approx({"a": 4.0 / (10 / 3)})


def test_log_is_scale_invariant_and_clamps_non_positive_losses():
    normalizer = make_normalizer("log", ["a"], eps=1e-6)
    loss = torch.tensor(5.0, requires_grad=True)
    normalized = normalizer.normalize({"a": loss}, 0)["a"]
    normalized.backward()
    assert normalized.item() == pytest.approx(math.log(5.0))
    assert loss.grad.item() == pytest.approx(1 / 5)
    assert normalizer.normalize({"a": torch.tensor(-1.0)}, 1)["a"].item() == pytest.approx(math.log(1e-6))


@pytest.mark.parametrize(("name", "params"), [("initial", {"k": 3}), ("ema", {"decay": 0.9})])
def test_state_round_trips(name, params):
    tasks = ["a", "b"]
    trained = make_normalizer(name, tasks, **params)
    for step, (a, b) in enumerate([(4.0, 1.0), (3.0, 2.0), (5.0, 0.5)]):
        trained.normalize({"a": torch.tensor(a), "b": torch.tensor(b)}, step)
    trained.normalize({"a": torch.tensor(1.0)}, 3)
    restored = make_normalizer(name, tasks, **params)
    restored.load_state_dict(trained.state_dict())
    step_losses = {"a": torch.tensor(2.0), "b": torch.tensor(3.0)}
    assert values(restored.normalize(step_losses, 4)) == values(trained.normalize(step_losses, 4))


@pytest.mark.parametrize(("name", "params"), [("initial", {"k": 3}), ("ema", {"decay": 0.9})])
def test_absent_task_keeps_its_state(name, params):
    normalizer = make_normalizer(name, ["a", "b"], **params)
    normalizer.normalize({"a": torch.tensor(4.0), "b": torch.tensor(1.0)}, 0)
    before = copy.deepcopy(normalizer.state_dict())
    normalizer.normalize({"a": torch.tensor(2.0)}, 1)
    after = normalizer.state_dict()
    for key, value in before.items():
        if isinstance(value, torch.Tensor):
            assert after[key][1] == value[1], key
        else:
            assert after[key]["counts"][1] == value["counts"][1]
