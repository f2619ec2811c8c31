"""Properties every registered strategy must have: state round-trips, absent tasks leave state alone."""

import copy
import io

import pytest
import torch
from torch import nn

from weightsearch.weighting import STRATEGIES, make_strategy

TASKS = ("a", "b", "c")
PARAMS = {
    "fixed": {"weights": {"a": 2.0}},
    "importance": {"priorities": {"a": 3.0}},
    "uncertainty": {"forms": {"b": "classification"}, "init": 0.5},
    "gradnorm": {"alpha": 1.0, "lr": 0.05},
    "dwa": {"window": 1},
    "rlw": {"seed": 3},
    "famo": {"lr": 0.5},
    "torchjd": {"aggregator": "mgda"},
}


def test_every_registered_strategy_is_covered():
    assert set(STRATEGIES) == set(PARAMS)


class TinyMultiTask(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Linear(4, 4)
        self.heads = nn.ModuleDict({task: nn.Linear(4, 1) for task in TASKS})

    def losses(self, step: int, tasks=TASKS) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(step)
        inputs = torch.randn(8, 4, generator=generator)
        features = torch.tanh(self.trunk(inputs))
        scales = {"a": 1.0, "b": 5.0, "c": 0.2}
        return {task: (self.heads[task](features).squeeze(1) - scales[task]).pow(2).mean() for task in tasks}


def train(strategy, model, steps, tasks=TASKS):
    optimizer = torch.optim.SGD(list(model.parameters()) + list(strategy.parameters()), lr=0.05)
    for step in steps:
        total, _ = strategy.weigh(model.losses(step, tasks), step, list(model.trunk.parameters()))
        optimizer.zero_grad()
        total.backward()
        optimizer.step()


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_state_round_trips_into_a_fresh_instance(name):
    model = TinyMultiTask()
    strategy = make_strategy(name, TASKS, **PARAMS[name])
    train(strategy, model, range(4))
    restored = make_strategy(name, TASKS, **PARAMS[name])
    # Through a file, as a checkpoint goes, and loadable with weights_only (no arbitrary pickles).
    buffer = io.BytesIO()
    torch.save(strategy.state_dict(), buffer)
    buffer.seek(0)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.current_weights() == strategy.current_weights()
    shared = list(model.trunk.parameters())
    expected_total, expected_weights = strategy.weigh(model.losses(4), 4, shared)
    total, weights = restored.weigh(model.losses(4), 4, shared)
    assert torch.equal(total, expected_total)
    assert {task: weight.item() for task, weight in weights.items()} == {
        task: weight.item() for task, weight in expected_weights.items()
    }


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_absent_task_contributes_nothing_and_keeps_its_state(name):
    model = TinyMultiTask()
    strategy = make_strategy(name, TASKS, **PARAMS[name])
    train(strategy, model, range(3))
    before = {key: value.clone() for key, value in strategy.state_dict().items() if isinstance(value, torch.Tensor)}
    before_extra = copy.deepcopy(strategy.state_dict().get("_extra_state", {}))
    strategy.zero_grad()
    losses = model.losses(3, tasks=("a", "c"))
    total, weights = strategy.weigh(losses, 3, list(model.trunk.parameters()))
    assert set(weights) == {"a", "c"}
    total.backward()
    for key, value in strategy.state_dict().items():
        if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == len(TASKS):
            assert torch.equal(value[1], before[key][1]), f"{key} changed for the absent task"
    for key, value in strategy.state_dict().get("_extra_state", {}).items():
        if isinstance(value, list) and len(value) == len(TASKS):
            assert value[1] == before_extra[key][1], f"{key} changed for the absent task"
    for parameter in strategy.parameters():
        assert parameter.grad is None or parameter.grad[1].item() == 0.0


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_weights_are_detached_scalars_and_current_weights_cover_all_tasks(name):
    model = TinyMultiTask()
    strategy = make_strategy(name, TASKS, **PARAMS[name])
    _, weights = strategy.weigh(model.losses(0), 0, list(model.trunk.parameters()))
    assert all(weight.dim() == 0 and not weight.requires_grad for weight in weights.values())
    assert set(strategy.current_weights()) == set(TASKS)
