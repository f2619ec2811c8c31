"""Strategies named by import path (``"pkg.mod:Class"``): resolution, the worked example, and one-line UserErrors."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.weighting import (
    STRATEGIES,
    FixedWeighting,
    make_strategy,
    strategy_arguments,
    strategy_class,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples.custom_strategy:WarmupWeighting"
TASKS = ("a", "b", "c")


@pytest.fixture(autouse=True)
def _examples_importable(monkeypatch):
    """``examples`` imports from the repository root, as the CLI imports it from its working directory."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Write ``source`` as an importable module named after the test; returns its name."""
    counter = iter(range(100))

    def write(source: str) -> str:
        name = f"user_strategies_{tmp_path.name}_{next(counter)}".replace("-", "_")
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path))
        return name

    return write


def error_message(name: str, **params) -> str:
    """The UserError message of ``make_strategy(name, ...)``, checked to be one line."""
    with pytest.raises(UserError) as raised:
        make_strategy(name, TASKS, **params)
    message = str(raised.value)
    assert "\n" not in message
    assert name in message
    return message


def test_a_registered_name_and_an_import_path_resolve_to_their_classes():
    from examples.custom_strategy import WarmupWeighting

    before = dict(STRATEGIES)
    assert strategy_class("fixed") is FixedWeighting
    assert strategy_class(EXAMPLE) is WarmupWeighting
    assert STRATEGIES == before


def test_an_outside_class_is_named_by_its_import_path():
    assert strategy_class(EXAMPLE).name == EXAMPLE
    assert FixedWeighting.name == "fixed"


def test_strategy_arguments_are_the_keyword_only_constructor_parameters():
    assert list(strategy_arguments(strategy_class(EXAMPLE))) == ["warmup", "floor"]
    assert list(strategy_arguments(FixedWeighting)) == ["weights"]


def test_make_strategy_builds_the_example_and_checks_its_keywords():
    strategy = make_strategy(EXAMPLE, TASKS, warmup=4, floor=0.2)
    assert (strategy.warmup, strategy.floor, strategy.tasks) == (4, 0.2, TASKS)
    assert "['warmp']" in error_message(EXAMPLE, warmp=4)
    assert "'warmup'" in error_message(EXAMPLE, warmup=-1)
    assert "'floor'" in error_message(EXAMPLE, floor=1.5)


def test_the_example_ramps_each_task_over_the_steps_it_is_present():
    strategy = make_strategy(EXAMPLE, TASKS, warmup=4, floor=0.2)
    assert strategy.current_weights() == pytest.approx({"a": 0.2, "b": 0.2, "c": 0.2})
    for step in range(3):
        losses = {task: torch.tensor(2.0) for task in TASKS if task != "b" or step == 0}
        total, weights = strategy.weigh(losses, step)
    assert {task: weight.item() for task, weight in weights.items()} == pytest.approx({"a": 0.8, "c": 0.8})
    assert total.item() == pytest.approx(2 * 0.8 * 2.0)
    assert strategy.current_weights() == pytest.approx({"a": 0.8, "b": 0.4, "c": 0.8})
    strategy.weigh({task: torch.tensor(1.0) for task in TASKS}, 3)
    assert strategy.current_weights() == pytest.approx({"a": 1.0, "b": 0.6, "c": 1.0})
    assert make_strategy(EXAMPLE, TASKS, warmup=0).current_weights() == {"a": 1.0, "b": 1.0, "c": 1.0}


def test_the_example_state_round_trips_through_a_checkpoint():
    strategy = make_strategy(EXAMPLE, TASKS, warmup=10, floor=0.1)
    for step in range(5):
        strategy.weigh({task: torch.tensor(1.0 + step) for task in TASKS if task != "c" or step % 2}, step)
    buffer = io.BytesIO()
    torch.save(strategy.state_dict(), buffer)
    buffer.seek(0)
    restored = make_strategy(EXAMPLE, TASKS, warmup=10, floor=0.1)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.current_weights() == strategy.current_weights()
    losses = {task: torch.tensor(3.0, requires_grad=True) for task in TASKS}
    expected_total, expected_weights = strategy.weigh(losses, 5)
    total, weights = restored.weigh(losses, 5)
    assert torch.equal(total, expected_total)
    assert all(torch.equal(weights[task], expected_weights[task]) for task in TASKS)
    assert not any(weight.requires_grad for weight in weights.values())


def test_an_unknown_plain_name_lists_the_valid_names():
    message = error_message("magic")
    assert "'fixed'" in message and "'gradnorm'" in message


@pytest.mark.parametrize("name", ["examples.custom_strategy:", ":WarmupWeighting", "examples..x:Cls", "a:b:c", "a b:C"])
def test_a_malformed_import_path_says_how_to_write_one(name):
    assert "'my_pkg.my_module:MyStrategy'" in error_message(name)


def test_a_missing_module_says_to_put_it_on_the_path():
    assert "module 'no_such_package.strategies' not found; put it on PYTHONPATH" in error_message(
        "no_such_package.strategies:Mine"
    )
    assert "module 'examples.no_such_module' not found" in error_message("examples.no_such_module:Mine")


def test_an_error_inside_the_module_is_quoted(user_module):
    missing_dependency = user_module("import no_such_dependency\n")
    message = error_message(f"{missing_dependency}:Mine")
    assert "ModuleNotFoundError" in message and "no_such_dependency" in message
    broken = user_module("def broken(:\n")
    assert "SyntaxError" in error_message(f"{broken}:Mine")
    raising = user_module("raise RuntimeError('no GPU here\\nsecond line')\n")
    assert "RuntimeError: no GPU here second line" in error_message(f"{raising}:Mine")


def test_a_missing_attribute_names_the_module():
    assert "module 'examples.custom_strategy' has no attribute 'Nope'" in error_message("examples.custom_strategy:Nope")


@pytest.mark.parametrize(
    ("name", "what"),
    [("weightsearch.errors:UserError", "a class"), ("weightsearch.weighting:make_strategy", "a function")],
)
def test_something_other_than_a_strategy_subclass_is_refused(name, what):
    assert f"is {what}, not a WeightingStrategy subclass" in error_message(name)


def test_the_base_class_and_abstract_subclasses_are_refused(user_module):
    assert "abstract" in error_message("weightsearch.weighting:WeightingStrategy")
    module = user_module(
        """
        from weightsearch.weighting import WeightingStrategy

        class Unfinished(WeightingStrategy):
            pass
        """
    )
    assert "abstract (it lacks _weigh)" in error_message(f"{module}:Unfinished")
