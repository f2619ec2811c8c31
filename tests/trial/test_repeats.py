"""Multi-seed trials (``repeats``): seed means and per-seed values, each seed as its own trial, resume."""

from __future__ import annotations

import math
import statistics

import pytest
from pydantic import ValidationError
from test_trainer import Interrupted, Reports, interrupt_at, without_time

from weightsearch.contracts import RESULT_STEP, RESULT_TRAIN_SECONDS, seed_metric
from weightsearch.errors import UserError
from weightsearch.trial import TrialConfig, train
from weightsearch.trial.checkpoint import load_checkpoint, save_checkpoint
from weightsearch.trial.replica import seed_means

BOOKKEEPING = {RESULT_STEP, RESULT_TRAIN_SECONDS}


def dropout_config(**fields) -> TrialConfig:
    """The example plug-in with dropout (global generator) and stateful weighting and normalization."""
    defaults = {
        "model": "examples.plugin_model:build",
        "device": "cpu",
        "batch_size": 16,
        "options": {"hidden": 32, "dropout": 0.2},
        "strategy": "uncertainty",
        "normalization": "ema",
        "steps": 30,
        "eval_every": 10,
    }
    return TrialConfig(**{**defaults, **fields})


def test_a_trial_reports_each_metrics_seed_mean_and_every_seeds_value():
    reports = Reports()
    train(dropout_config(repeats=3), report=reports)
    single = train(dropout_config(steps=10, eval_every=10))
    plain = set(single) - BOOKKEEPING
    for metrics in reports.metrics:
        per_seed = {seed_metric(name, index) for name in plain for index in range(3)}
        assert set(metrics) == plain | per_seed | BOOKKEEPING
        for name in plain:
            assert metrics[name] == statistics.fmean(metrics[seed_metric(name, index)] for index in range(3))


def test_each_seed_computes_what_a_single_seed_trial_of_that_seed_does():
    together = without_time(train(dropout_config(seed=5, repeats=2)))
    alone = [without_time(train(dropout_config(seed=seed))) for seed in (5, 6)]
    for metrics in alone:
        assert not any(name.startswith("seed") for name in metrics)  # one seed: the names as always
    for index, metrics in enumerate(alone):
        for name, value in metrics.items():
            if name != RESULT_STEP:
                assert together[seed_metric(name, index)] == value  # bit-identical on the CPU
    assert alone[0]["val/loss/position"] != alone[1]["val/loss/position"]


def test_an_interrupted_and_resumed_multi_seed_trial_reports_what_an_uninterrupted_one_does(tmp_path):
    config = dropout_config(repeats=2)
    whole = Reports()
    train(config, report=whole, checkpoint_dir=tmp_path / "whole")
    first_part, second_part = Reports(), Reports()
    with pytest.raises(Interrupted):
        train(config, report=interrupt_at(20.0, first_part), checkpoint_dir=tmp_path / "parts")
    progress = []
    train(
        config,
        report=second_part,
        checkpoint_dir=tmp_path / "parts",
        resume_from=first_part.checkpoints[-1],
        progress=lambda done, total: progress.append((done, total)),
    )

    resumed = [without_time(metrics) for metrics in first_part.metrics + second_part.metrics]
    assert resumed == [without_time(metrics) for metrics in whole.metrics]  # bit-identical on the CPU
    assert len(load_checkpoint(first_part.checkpoints[-1])["replicas"]) == 2
    # Progress counts every seed's steps: 20 of 30 done by both seeds before the resume.
    assert progress == [(done, 60) for done in range(41, 61)]


def test_resuming_with_other_repeats_than_the_checkpoint_is_a_user_error(tmp_path):
    reports = Reports()
    train(dropout_config(steps=10, repeats=2), report=reports, checkpoint_dir=tmp_path)
    with pytest.raises(UserError, match="resume_from: the checkpoint holds 2 seed.*repeats=3"):
        train(dropout_config(repeats=3), resume_from=reports.checkpoints[-1])


def test_a_checkpoint_with_one_seeds_state_at_the_top_level_still_resumes(tmp_path):
    config = dropout_config(steps=20)
    reports = Reports()
    train(config, report=reports, checkpoint_dir=tmp_path / "new")
    state = load_checkpoint(reports.checkpoints[0])
    legacy = {key: value for key, value in state.items() if key != "replicas"} | state["replicas"][0]
    resumed = train(config, resume_from=save_checkpoint(tmp_path / "legacy", 10, legacy))
    assert without_time(resumed) == without_time(reports.metrics[-1])


def test_a_metric_is_averaged_over_the_seeds_that_report_it():
    combined = seed_means([{"a": 1.0, "b": 4.0}, {"a": 3.0}])
    assert combined == {"a": 2.0, "b": 4.0, "seed0/a": 1.0, "seed0/b": 4.0, "seed1/a": 3.0}
    # One seed: its values untouched (a mean would turn -0.0 into 0.0).
    assert math.copysign(1.0, seed_means([{"a": -0.0}])["a"]) == -1.0


@pytest.mark.parametrize("repeats", [0, 17])
def test_repeats_out_of_range_is_rejected(repeats):
    with pytest.raises(ValidationError, match="repeats"):
        TrialConfig(repeats=repeats)
