"""The e2e tests' check that a sweep's two stores agree, trial by trial and step by step."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
from mlflow.tracking import MlflowClient

from weightsearch.tracking import names


def assert_stores_agree(run_dir: Path, name: str, objective: str) -> None:
    """One child run per Optuna trial, with the trial's state, reason, retries and value, and per metric
    exactly one point per step; the objective at exactly the steps and values of the trial's intermediate values."""
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{run_dir / 'optuna.db'}")
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`{names.KIND}` = 'trial'")
    numbers = sorted(int(run.data.tags[names.TRIAL_NUMBER]) for run in runs)
    assert numbers == [trial.number for trial in study.trials], numbers
    by_number = {int(run.data.tags[names.TRIAL_NUMBER]): run for run in runs}
    for trial in study.trials:
        run = by_number[trial.number]
        where = f"trial {trial.number}"
        assert run.data.tags[names.TRIAL_STATE] == trial.state.name, where
        assert run.info.status == names.RUN_STATUS[trial.state.name], where
        if trial.state.name == "FAIL":
            assert run.data.tags[names.FAIL_REASON] == names.reason_value(trial.user_attrs["fail_reason"]), where
        if trial.user_attrs.get("retries"):
            assert run.data.tags[names.RETRIES] == str(trial.user_attrs["retries"]), where
        if trial.state.name == "COMPLETE":
            assert math.isclose(run.data.metrics[objective], trial.value, rel_tol=1e-6), where
        for key in run.data.metrics:
            history = client.get_metric_history(run.info.run_id, key)
            steps = [point.step for point in history]
            assert len(steps) == len(set(steps)), (where, key, sorted(steps))
            if key == objective:
                assert sorted(steps) == sorted(trial.intermediate_values), (where, steps)
                for point in history:
                    assert math.isclose(point.value, trial.intermediate_values[point.step], rel_tol=1e-6), (
                        where,
                        point,
                    )
