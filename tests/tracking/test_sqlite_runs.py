"""The standard-library reader of MLflow's SQLite store reads what MLflow's own client reads, on stores the
installed MLflow writes (the reader is only trusted at schema revisions it was checked against)."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from weightsearch.errors import UserError
from weightsearch.tracking import names
from weightsearch.tracking.mlflow_runs import MlflowRuns
from weightsearch.tracking.query import best_trials, open_sweep, read_confirmation, trial_runs
from weightsearch.tracking.sqlite_runs import SqliteRuns, open_sqlite_runs

STATES = ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE", "FAIL", "COMPLETE", "RUNNING"]
VALUES = [0.5, math.nan, 0.3, math.inf, 0.3, -math.inf, 0.9]


def record(client: MlflowClient, experiment: str, sweep: str, direction: str, values: list[float]) -> str:
    """A parent run with one child run per value (states cycling through :data:`STATES`) and two confirmation runs."""
    objectives = json.dumps([{"metric": "val/loss", "direction": direction}])
    parent = client.create_run(experiment, tags={names.KIND: names.KIND_SWEEP, names.SWEEP: sweep,
                                                 names.OBJECTIVES: objectives}).info.run_id
    for number, value in enumerate(values):
        state = STATES[number % len(STATES)]
        tags = {names.PARENT_RUN_ID: parent, names.KIND: names.KIND_TRIAL, names.TRIAL_NUMBER: str(number),
                names.TRIAL_STATE: state, names.SEARCHED: json.dumps(["lr", "strategy"]),
                names.TRIAL_CONFIG: json.dumps({"lr": number, "strategy": "dwa" if number % 2 else "fixed"})}
        run = client.create_run(experiment, tags=tags).info.run_id
        metrics = [Metric("val/loss", value, 0, 1), Metric("train/loss", 2.0, 0, 1), Metric("train/loss", 1.0, 1, 2)]
        client.log_batch(run, metrics=metrics,
                         params=[Param("lr", str(number)), Param("strategy", "dwa" if number % 2 else "fixed")])
        if state != "RUNNING":
            client.set_terminated(run, names.RUN_STATUS[state])
    for seed in (1, 2):
        client.create_run(experiment, tags={names.PARENT_RUN_ID: parent, names.KIND: names.KIND_CONFIRM,
                                            names.CONFIRM_UNIT: f"trial-0/seed-{seed}"})
    client.log_dict(parent, {"configurations": [], "seeds": [1, 2]}, names.CONFIRMATION_ARTIFACT)
    client.set_tag(parent, names.CONFIRMATION, names.CONFIRMATION_ARTIFACT)
    return parent


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """Sweeps with NaN and ±inf objectives, every state, a deleted run, and a sweep name recorded twice."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiments = {name: client.create_experiment(name, artifact_location=(root / name).as_uri())
                   for name in ("min", "max", "twice")}
    values = VALUES * 6
    record(client, experiments["min"], "min", "minimize", values)
    record(client, experiments["max"], "max", "maximize", values)
    record(client, experiments["twice"], "twice", "minimize", values[:5])
    record(client, experiments["twice"], "twice", "minimize", values[:9])
    client.delete_run(trial_runs(open_sweep("twice", tracking_uri=uri))[0].info.run_id)
    return uri


def both(uri: str, name: str):
    """Sweep ``name`` opened by the standard-library reader and the same sweep read through MLflow's client."""
    sweep = open_sweep(name, tracking_uri=uri)
    assert isinstance(sweep.source, SqliteRuns)
    mlflow = MlflowRuns(uri)
    parent = mlflow.latest_sweep(mlflow.experiment_id(name), name)
    return sweep, replace(sweep, source=mlflow, parent=parent)


def view(run) -> tuple:
    """What the queries read of a run (NaN compared as a string)."""
    metrics = {key: "nan" if math.isnan(value) else value for key, value in run.data.metrics.items()}
    return (run.info.run_id, run.info.status, run.info.artifact_uri, run.data.tags, run.data.params, metrics)


@pytest.mark.parametrize("name", ["min", "max", "twice"])
def test_the_readers_agree_on_every_selection(store: str, name: str) -> None:
    fast, slow = both(store, name)
    assert fast.experiment_id == slow.experiment_id and view(fast.parent) == view(slow.parent)
    for kind in (names.KIND_TRIAL, names.KIND_CONFIRM):
        for state in (None, *names.TRIAL_STATES):
            assert [view(run) for run in trial_runs(fast, kind=kind, state=state)] == \
                   [view(run) for run in trial_runs(slow, kind=kind, state=state)], (kind, state)
    assert trial_runs(fast), "the sweep has runs"
    for top in (1, 2, 3, 5, 40):
        assert best_trials(fast, top=top) == best_trials(slow, top=top), top
    assert read_confirmation(fast) == read_confirmation(slow) == {"configurations": [], "seeds": [1, 2]}


def test_a_filter_is_read_by_mlflow(store: str) -> None:
    fast, slow = both(store, "min")
    selected = best_trials(fast, top=3, filter_string="params.strategy = 'dwa'")
    assert selected == best_trials(slow, top=3, filter_string="params.strategy = 'dwa'")
    assert selected and all(trial.params["strategy"] == "dwa" for trial in selected)


def test_the_latest_sweep_of_a_name_and_no_deleted_run(store: str) -> None:
    fast, _ = both(store, "twice")
    assert len(trial_runs(fast)) == 8  # the second recording's 9 runs, less the deleted one


def test_an_unknown_schema_revision_or_another_store_goes_to_mlflow(store: str, tmp_path: Path) -> None:
    copy = tmp_path / "mlflow.db"
    shutil.copy(store.removeprefix("sqlite:///"), copy)
    assert open_sqlite_runs(f"sqlite:///{copy}") is not None
    with sqlite3.connect(copy) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'a-later-one'")
    assert open_sqlite_runs(f"sqlite:///{copy}") is None
    assert open_sqlite_runs(f"sqlite:///{tmp_path / 'missing.db'}") is None
    assert open_sqlite_runs("http://127.0.0.1:5000") is None


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    with pytest.raises(UserError, match="no MLflow store at"):
        open_sweep("min", tracking_uri=f"sqlite:///{missing}")
    assert not missing.exists()
