"""Readable values in the study (λ per task, strategy, lr) and importances ranked over them, not over `:u` values."""

from __future__ import annotations

import math

import optuna
import pytest

from weightsearch.config import TrialConfig, load_space
from weightsearch.contracts import readable_values
from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.searcher import OptunaSearcher
from weightsearch.tracking.importances import label, readable_importances, readable_table

TASKS = ["action", "align", "recon"]
SPACE = {
    "strategy": {"fixed": {"weights": {"simplex": TASKS, "total": 3}}, "dwa": {"temperature": {"float": [1.0, 4.0]}}},
    "parameters": {"lr": {"float": [1e-3, 1e-2], "log": True}},
}


def test_readable_values_name_lambda_per_task_and_other_values_by_path():
    values = readable_values(
        "fixed", {"weights": {"action": 1.0, "align": 4.66}}, {"strategy": "fixed", "lr": 0.003, "tags": [1, 2]}
    )
    assert values == {"value.strategy": "fixed", "lambda.action": 1.0, "lambda.align": 4.66, "value.lr": 0.003}
    assert readable_values("dwa", {"temperature": 2.0}, {}) == {"value.strategy": "dwa", "value.dwa.temperature": 2.0}
    assert label("lambda.align") == "λ align" and label("value.dwa.temperature") == "dwa.temperature"


def test_every_asked_trial_carries_its_actual_lambda_as_numbers(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="readable")
    searcher = OptunaSearcher(OptunaBridge(study, ["val/action/mse"]), load_space(SPACE), TrialConfig())
    configs = [searcher.suggest(f"ray-{index}") for index in range(6)]
    for config, trial in zip(configs, study.trials):
        trained = TrialConfig.model_validate(config["trial"])
        attrs = trial.user_attrs
        assert attrs["value.strategy"] == trained.strategy and attrs["value.lr"] == pytest.approx(trained.lr)
        if trained.strategy == "fixed":
            # the weights the trial trains with, not the sampler's coordinates (λ ∝ -ln u)
            assert {task: attrs[f"lambda.{task}"] for task in TASKS} == trained.strategy_params["weights"]
            assert math.isclose(sum(attrs[f"lambda.{task}"] for task in TASKS), 3.0)
        else:
            assert attrs["value.dwa.temperature"] == trained.strategy_params["temperature"]
            assert not any(name.startswith("lambda.") for name in attrs)


def _trial(number: int, attrs: dict, value: float) -> optuna.trial.FrozenTrial:
    trial = optuna.trial.create_trial(value=value, user_attrs=attrs)
    trial.number = number
    return trial


def _sweep(with_uncertainty: bool) -> tuple[list[optuna.trial.FrozenTrial], list[float]]:
    """24 trials: the fixed strategy's value set by λ_align (optimum 1.5); uncertainty trials, if any, far worse."""
    trials, targets = [], []
    for number in range(24):
        lr = 0.001 * (1 + (number * 7) % 5)  # varies independently of the strategy and of λ
        if number % 3 or not with_uncertainty:
            align = 0.2 + 0.2 * (number % 13)
            attrs = {"value.strategy": "fixed", "lambda.align": align, "lambda.action": 1.0, "value.lr": lr}
            target = (align - 1.5) ** 2
        else:
            attrs = {"value.strategy": "uncertainty", "value.lr": lr}
            target = 5.0
        trials.append(_trial(number, attrs | {"params": {"ignored": 1}}, target))
        targets.append(target)
    return trials, targets


def test_importances_credit_the_strategy_choice_when_it_decides():
    importances = readable_importances(*_sweep(with_uncertainty=True))
    # `params` is no readable value; λ_action is the same in every trial that has it
    assert set(importances) == {"strategy", "λ align", "lr"}
    assert importances["strategy"] > 0.8
    assert readable_table(_sweep(with_uncertainty=True)[0][:1]) == [{"strategy": "uncertainty", "lr": 0.001}]


def test_importances_rank_the_lambda_that_drives_the_objective():
    importances = readable_importances(*_sweep(with_uncertainty=False))
    assert set(importances) == {"λ align", "lr"} and importances["λ align"] > 0.8


def test_importances_need_trials_with_readable_values():
    old_sweep = [_trial(number, {"params": {"lr": 0.01}}, 1.0) for number in range(3)]
    with pytest.raises(ValueError, match="0 COMPLETE trials with readable values"):
        readable_importances(old_sweep, [1.0, 2.0, 3.0])
