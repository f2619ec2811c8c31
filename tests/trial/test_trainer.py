"""The trainer on the example plug-in: reports, learning, checkpoint/resume, NaN and config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from weightsearch.errors import NonFiniteLossError, UserError
from weightsearch.trial import TrialConfig, train
from weightsearch.trial.checkpoint import STATE_FILE
from weightsearch.weighting import STRATEGIES

TASKS = ("position", "region", "distance")
# Strategies whose constructor has required parameters; mgda needs no optional package.
REQUIRED_STRATEGY_PARAMS = {"torchjd": {"aggregator": "mgda"}}


def example_config(**fields) -> TrialConfig:
    defaults = dict(model="examples.plugin_model:build", device="cpu", batch_size=16, options={"hidden": 32})
    return TrialConfig(**{**defaults, **fields})


class Reports:
    """A ``report`` callback that keeps every call."""

    def __init__(self) -> None:
        self.metrics: list[dict[str, float]] = []
        self.checkpoints: list[Path | None] = []

    def __call__(self, metrics: dict[str, float], checkpoint: Path | None) -> None:
        self.metrics.append(metrics)
        self.checkpoints.append(checkpoint)


def test_reports_at_every_eval_step_and_the_last_with_the_documented_names(tmp_path):
    reports = Reports()
    final = train(
        example_config(steps=50, eval_every=20, options={"hidden": 32, "label_every": 1}),
        report=reports,
        checkpoint_dir=tmp_path,
    )
    assert [metrics["step"] for metrics in reports.metrics] == [20.0, 40.0, 50.0]
    assert final == reports.metrics[-1]
    expected = {"train/loss/total", "step", "time/train_s"}
    for task in TASKS:
        expected |= {f"train/{kind}/{task}" for kind in ("loss", "loss_norm", "weight", "contrib", "grad_norm")}
        expected.add(f"val/loss/{task}")
    expected |= {"train/grad_cos/position-region", "train/grad_cos/position-distance", "train/grad_cos/region-distance"}
    expected |= {"val/position/mse", "val/region/accuracy", "val/distance/mae"}
    for metrics in reports.metrics:
        assert set(metrics) == expected
    for checkpoint, step in zip(reports.checkpoints, (20, 40, 50)):
        assert checkpoint == tmp_path / f"step_{step:07d}" and (checkpoint / STATE_FILE).is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["step_0000020", "step_0000040", "step_0000050"]


def test_losses_decrease():
    reports = Reports()
    train(example_config(steps=200, eval_every=50, diagnostics=False), report=reports)
    first, last = reports.metrics[0], reports.metrics[-1]
    for task in TASKS:
        assert last[f"val/loss/{task}"] < 0.6 * first[f"val/loss/{task}"]
    assert last["train/loss/total"] < first["train/loss/total"]
    assert last["val/region/accuracy"] > 0.8
    assert not any(name.startswith("train/grad_") for name in last)
    assert reports.checkpoints == [None] * 4


def test_a_task_is_averaged_only_over_the_steps_that_labelled_it():
    # distance is labelled at step 0 and not at step 1, so its two-step average is the step-0 loss.
    first_step = train(example_config(steps=1, eval_every=1))
    two_steps = train(example_config(steps=2, eval_every=2))
    assert two_steps["train/loss/distance"] == first_step["train/loss/distance"]
    assert two_steps["train/loss/position"] != first_step["train/loss/position"]


class Interrupted(Exception):
    """Raised from the report callback to stop a trial as a killed worker would."""


def interrupt_at(step: float, reports: Reports):
    def report(metrics, checkpoint):
        reports(metrics, checkpoint)
        if metrics["step"] == step:
            raise Interrupted

    return report


def without_time(metrics: dict[str, float]) -> dict[str, float]:
    return {name: value for name, value in metrics.items() if name != "time/train_s"}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_interrupted_and_resumed_trial_reports_what_an_uninterrupted_one_does(tmp_path, strategy):
    # Dropout draws from the global generator and ema normalization keeps state: both must resume.
    config = example_config(
        steps=40,
        eval_every=10,
        strategy=strategy,
        strategy_params=REQUIRED_STRATEGY_PARAMS.get(strategy, {}),
        normalization="ema",
        options={"hidden": 32, "dropout": 0.2},
    )
    whole = Reports()
    train(config, report=whole, checkpoint_dir=tmp_path / "whole")

    first_part, second_part = Reports(), Reports()
    with pytest.raises(Interrupted):
        train(config, report=interrupt_at(20.0, first_part), checkpoint_dir=tmp_path / "parts")
    train(config, report=second_part, checkpoint_dir=tmp_path / "parts", resume_from=first_part.checkpoints[-1])

    resumed = [without_time(metrics) for metrics in first_part.metrics + second_part.metrics]
    uninterrupted = [without_time(metrics) for metrics in whole.metrics]
    assert [metrics["step"] for metrics in resumed] == [10.0, 20.0, 30.0, 40.0]
    for got, expected in zip(resumed, uninterrupted):
        assert got.keys() == expected.keys()
        assert got == expected  # bit-identical on the CPU
    assert second_part.metrics[-1]["time/train_s"] > first_part.metrics[-1]["time/train_s"]


def test_resuming_a_finished_trial_returns_its_final_metrics_without_training(tmp_path):
    config = example_config(steps=20, eval_every=10)
    reports = Reports()
    final = train(config, report=reports, checkpoint_dir=tmp_path)
    steps_run = []
    again = train(config, resume_from=reports.checkpoints[-1], progress=lambda done, total: steps_run.append(done))
    assert again == final and steps_run == []


def test_a_nan_loss_stops_the_trial_naming_the_task_and_step():
    steps_done = []
    with pytest.raises(NonFiniteLossError) as raised:
        train(
            example_config(
                model="trial_plugins:build_nan", options={"task": "region", "step": 7}, steps=20, eval_every=10
            ),
            progress=lambda done, total: steps_done.append(done),
        )
    assert (raised.value.task, raised.value.step) == ("region", 7)
    assert steps_done == list(range(1, 8))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"strategy": "magic"}, "trial config field 'strategy': unknown strategy 'magic'"),
        ({"strategy_params": {"weights": {"gripper": 1.0}}}, "trial config field 'strategy_params'.*unknown task"),
        ({"strategy_params": {"weights": {"region": -0.5}}}, "trial config field 'strategy_params'.*>= 0"),
        ({"strategy_params": {"temperature": 2.0}}, "trial config field 'strategy_params'.*unknown parameter"),
        ({"normalization": "zscore"}, "trial config field 'normalization': unknown normalizer 'zscore'"),
        ({"normalization": "ema", "normalization_params": {"decay": 1.5}}, "trial config field 'normalization_params'"),
        ({"model": "examples.plugin_model:nothing"}, "trial config field 'model'"),
        ({"device": "tpu"}, "trial config field 'device'"),
    ],
)
def test_config_errors_are_raised_before_the_first_step(fields, expected):
    steps_done = []
    with pytest.raises(UserError, match=expected):
        train(example_config(steps=10, eval_every=10, **fields), progress=lambda done, total: steps_done.append(done))
    assert steps_done == []
