"""The Optuna searcher and pruning scheduler under a real local Ray Tune, with a real SQLite study."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from ray import tune

from weightsearch.config import load_space
from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.pruning import OptunaPruningScheduler
from weightsearch.search.searcher import OptunaSearcher
from weightsearch.search.trainable import with_resources
from weightsearch.trial import TrialConfig

METRIC = "val/main/mse"
LR_SPACE = {"parameters": {"lr": {"float": [1.0e-4, 1.0], "log": True}}}


def _sweep(tmp_path: Path, trainable, *, space=LR_SPACE, base=None, pruner=None, num_samples=4, max_concurrent=2):
    """Run a sweep of ``trainable`` with our searcher and scheduler; return the study, bridge and Ray results."""
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        study_name="engine",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=pruner or optuna.pruners.NopPruner(),
    )
    bridge = OptunaBridge(study, [METRIC])
    base = base or TrialConfig(steps=4, eval_every=1)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearcher(bridge, load_space(space), base),
            scheduler=OptunaPruningScheduler(bridge),
            num_samples=num_samples,
            max_concurrent_trials=max_concurrent,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name="engine",
            storage_path=str(tmp_path / "ray"),
            verbose=0,
            failure_config=tune.FailureConfig(fail_fast=False),
        ),
    )
    results = tuner.fit()
    reloaded = optuna.load_study(study_name="engine", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    return reloaded, bridge, results


def lr_trainable(config):
    """Best at lr = 0.01; the objective falls with the step, so early values stay comparable across trials."""
    lr = config["trial"]["lr"]
    for step in range(1, 5):
        tune.report({METRIC: (math.log10(lr) + 2) ** 2 + 1.0 / step, "step": step})


def test_pruned_and_complete_trials_match_what_ray_saw(local_ray, tmp_path):
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    study, bridge, results = _sweep(tmp_path, lr_trainable, pruner=pruner, num_samples=6)

    states = {trial.number: trial.state for trial in study.trials}
    assert len(states) == 6
    assert TrialState.PRUNED in states.values() and TrialState.COMPLETE in states.values()
    assert set(states.values()) <= {TrialState.PRUNED, TrialState.COMPLETE}
    for result in results:
        number = result.config["trial_number"]
        trial = study.trials[number]
        reported = result.metrics_dataframe.set_index("step")[METRIC].to_dict()
        assert trial.intermediate_values == pytest.approx(reported)
        assert trial.params == {"lr": result.config["trial"]["lr"]}
        assert trial.user_attrs["params"] == result.config["params"]
        outcome = bridge.outcomes.get(result.metrics["trial_id"])
        assert outcome.number == number and outcome.state == trial.state.name
        if trial.state == TrialState.COMPLETE:
            assert len(reported) == 4 and trial.value == pytest.approx(reported[4])
        else:
            # Stopped at the step the pruner decided on: nothing after it ran, nothing told COMPLETE.
            assert len(reported) < 4 or trial.value == pytest.approx(reported[max(reported)])


def failing_trainable(config):
    """Trial 1 raises; the others report once."""
    if config["trial_number"] == 1:
        raise FloatingPointError("loss went to nan at step 3")
    tune.report({METRIC: config["trial"]["lr"], "step": 1})


def test_failing_trial_is_told_fail_with_its_reason_and_the_others_complete(local_ray, tmp_path):
    study, bridge, _ = _sweep(tmp_path, failing_trainable, num_samples=3)

    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    reason = study.trials[1].user_attrs["fail_reason"]
    assert reason == "FloatingPointError: loss went to nan at step 3"
    assert bridge.outcomes.get(next(r for r, n in bridge.links().items() if n == 1)).reason == reason


def barrier_trainable(config, barrier_dir):
    """Announce this trial, then wait (up to 60 s) until four trials run at once; report the interval."""
    start = time.time()
    Path(barrier_dir, str(config["trial_number"])).touch()
    while len(os.listdir(barrier_dir)) < 4 and time.time() - start < 60:
        time.sleep(0.05)
    tune.report(
        {
            METRIC: 1.0,
            "step": 1,
            "peers": len(os.listdir(barrier_dir)),
            "start": start,
            "end": time.time(),
            "visible_gpus": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        }
    )


def test_quarter_gpus_pack_four_trials_on_one_gpu(local_ray, tmp_path):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    trainable = tune.with_resources(tune.with_parameters(barrier_trainable, barrier_dir=str(barrier)), {"cpu": 0.5, "gpu": 0.25})
    _, _, results = _sweep(tmp_path, trainable, num_samples=4, max_concurrent=4)

    metrics = [result.metrics for result in results]
    assert [m["peers"] for m in metrics] == [4] * 4
    assert max(m["start"] for m in metrics) < min(m["end"] for m in metrics)
    assert {m["visible_gpus"] for m in metrics} == {"0"}


def test_weightsearch_trainable_trains_checkpoints_and_fails_on_nan(local_ray, tmp_path):
    space = {"parameters": {"lr": {"float": [1.0e-3, 1.0e-2], "log": True}, "options.nan_at_step": {"choice": [None, 3]}}}
    base = TrialConfig(model="sweep_plugins:build", steps=6, eval_every=2, batch_size=8, diagnostics=False)
    study, _, results = _sweep(tmp_path, with_resources(1, 0), space=space, base=base, num_samples=4)

    by_number = {result.config["trial_number"]: result for result in results}
    states = {trial.number: trial.state for trial in study.trials}
    assert set(states.values()) == {TrialState.COMPLETE, TrialState.FAIL}
    for trial in study.trials:
        result = by_number[trial.number]
        if trial.params["options.nan_at_step"] == 3:
            assert trial.state == TrialState.FAIL
            # NonFiniteLossError cannot be copied by Ray as is: the trainable carries it as text.
            assert trial.user_attrs["fail_reason"] == "NonFiniteLossError: non-finite loss for task 'aux' at step 3: nan"
        else:
            assert trial.state == TrialState.COMPLETE
            assert sorted(trial.intermediate_values) == [2, 4, 6]
            assert trial.value == pytest.approx(result.metrics[METRIC])
            assert (Path(result.checkpoint.path) / "trainer_state.pt").is_file()


def two_objective_trainable(config):
    lr = config["trial"]["lr"]
    for step in range(1, 4):
        tune.report({METRIC: lr / step, "val/aux/mse": 1.0 / lr, "step": step})


def test_two_objectives_complete_with_both_values_and_no_intermediate_values(local_ray, tmp_path):
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="pareto", directions=["minimize", "minimize"]
    )
    bridge = OptunaBridge(study, [METRIC, "val/aux/mse"])
    tuner = tune.Tuner(
        two_objective_trainable,
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearcher(bridge, load_space(LR_SPACE), TrialConfig()),
            scheduler=OptunaPruningScheduler(bridge),
            num_samples=3,
            max_concurrent_trials=2,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(name="pareto", storage_path=str(tmp_path / "ray"), verbose=0),
    )
    results = tuner.fit()

    by_number = {result.config["trial_number"]: result.metrics for result in results}
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE and trial.intermediate_values == {}
        assert trial.values == pytest.approx([by_number[trial.number][METRIC], by_number[trial.number]["val/aux/mse"]])
