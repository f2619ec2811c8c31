"""The time budget ends a sweep with MLflow agreeing with the study, and a resume goes on from the time spent:
real local Ray, the tiny `sweep_plugins` model, a real SQLite study and a real SQLite MLflow store."""

from __future__ import annotations

import time

import optuna
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from weightsearch.config import load_spec
from weightsearch.contracts import ATTR_STOP_REASON, STUDY_ATTR_TIME_SPENT
from weightsearch.search.budget import BUDGET_REASON
from weightsearch.search.resume import resume_sweep
from weightsearch.search.tuner import run_sweep
from weightsearch.tracking import names
from weightsearch.tracking.reconcile import reconcile_sweep
from weightsearch.tracking.recorder import MlflowSweepCallback

METRIC = "val/main/mse"
SPEC = {
    "name": "budget",
    "objective": {"metric": METRIC, "mode": "min"},
    # Never ends by itself: only the time budget stops it.
    "trial": {"model": "sweep_plugins:build", "steps": 10_000_000, "eval_every": 200, "batch_size": 8,
              "diagnostics": False},
    "space": {"parameters": {"lr": {"float": [1.0e-4, 3.0e-1], "log": True}}},
    "sampler": {"name": "random", "seed": 0},
    "pruner": {"name": "none"},
    "budget": {"num_samples": 6, "max_concurrent": 2, "time_budget_s": 20},
    "resources": {"cpu": 1, "gpu": 0},
}


def _spec(tmp_path, **budget):
    data = {**SPEC, "budget": {**SPEC["budget"], **budget}, "storage": {"path": str(tmp_path / "runs")}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def _child_runs(spec):
    client = MlflowClient(spec.tracking_uri)
    experiment = client.get_experiment_by_name(spec.experiment)
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`{names.KIND}` = 'trial'")
    return client, {int(run.data.tags[names.TRIAL_NUMBER]): run for run in runs}


def assert_agree(spec) -> optuna.Study:
    """Every Optuna trial has one child run whose status, state tag, stop reason and objective history agree."""
    study = optuna.load_study(study_name=spec.name, storage=spec.optuna_url)
    client, runs = _child_runs(spec)
    assert sorted(runs) == [trial.number for trial in study.trials]
    for trial in study.trials:
        run = runs[trial.number]
        assert run.data.tags[names.TRIAL_STATE] == trial.state.name, trial.number
        assert run.info.status == names.RUN_STATUS[trial.state.name], trial.number
        if trial.user_attrs.get(ATTR_STOP_REASON):
            assert run.data.tags[names.STOP_REASON] == trial.user_attrs[ATTR_STOP_REASON]
        history = client.get_metric_history(run.info.run_id, METRIC)
        assert sorted(point.step for point in history) == sorted(trial.intermediate_values), trial.number
    return study


def test_a_sweep_stopped_by_its_time_budget_ends_both_stores_alike_and_a_resume_goes_on_from_its_time(
    local_ray, tmp_path
):
    spec = _spec(tmp_path)
    recorder = MlflowSweepCallback(spec)
    run_sweep(spec, callbacks=[recorder])
    study = assert_agree(spec)
    assert study.trials and {trial.state for trial in study.trials} == {TrialState.PRUNED}
    assert {trial.user_attrs[ATTR_STOP_REASON] for trial in study.trials} == {BUDGET_REASON}
    # Ray's stop-all path called no on_trial_complete: the end's reconciliation closed the runs.
    [at_end] = recorder.reconciliations
    assert at_end.trials == len(study.trials) and at_end.mismatches and not at_end.unfixed
    spent = study.user_attrs[STUDY_ATTR_TIME_SPENT]
    assert spent >= 20  # and Ray's stop-all takes a few seconds more
    first_trials = len(study.trials)

    # With 3 s more of budget a resume stops after those 3 s (plus Ray's stop), not after a whole budget.
    longer = spec.model_copy(update={"budget": spec.budget.model_copy(update={"time_budget_s": spent + 3,
                                                                              "num_samples": 8})})
    resumed = MlflowSweepCallback(longer)
    started = time.monotonic()
    resume_sweep(longer, callbacks=[resumed])
    took = time.monotonic() - started
    study = assert_agree(spec)
    assert study.user_attrs[STUDY_ATTR_TIME_SPENT] >= spent + 3
    assert took < spent, f"the resume ran {took:.0f} s: its clock started from zero"
    assert len(study.trials) > first_trials and {t.state for t in study.trials} == {TrialState.PRUNED}
    assert not resumed.reconciliations[-1].unfixed

    # Once the budget is spent a resume runs nothing, and nothing is left to reconcile.
    count = len(study.trials)
    resume_sweep(longer, callbacks=[MlflowSweepCallback(longer)])
    assert len(optuna.load_study(study_name=spec.name, storage=spec.optuna_url).trials) == count
    assert reconcile_sweep(longer).mismatches == []
