"""Ranking of recorded trials and the rule that finds a sweep's tracking URI."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag
from mlflow.tracking import MlflowClient

from weightsearch.contracts import RunPaths
from weightsearch.errors import UserError
from weightsearch.tracking import names
from weightsearch.tracking.mlflow_runs import MlflowRuns
from weightsearch.tracking.query import (
    best_trials,
    locate,
    open_sweep,
    rank,
    trial_runs,
)


def trial_run(number: int, metrics: dict[str, float]) -> Run:
    info = RunInfo(f"run{number}", "1", "user", "FINISHED", 0, 1, "active")
    tags = [RunTag(names.TRIAL_NUMBER, str(number)), RunTag(names.TRIAL_STATE, "COMPLETE"),
            RunTag(names.SEARCHED, json.dumps(["lr"])), RunTag(names.TRIAL_CONFIG, json.dumps({"lr": 0.1 * number}))]
    return Run(info, RunData(metrics=[Metric(k, v, 0, 1) for k, v in metrics.items()],
                             params=[Param("lr", str(0.1 * number))], tags=tags))


def test_rank_breaks_ties_by_trial_number_whatever_the_input_order():
    runs = [trial_run(n, {"loss": v}) for n, v in [(7, 0.5), (2, 0.5), (4, 0.1), (9, float("nan")), (1, 0.9)]]
    ranked = rank(runs, [("loss", "minimize")])
    assert [t.trial_number for t in ranked] == [4, 2, 7, 1]  # NaN cannot be ranked
    assert [t.trial_number for t in rank(runs[::-1], [("loss", "minimize")])] == [4, 2, 7, 1]
    assert [t.trial_number for t in rank(runs, [("loss", "maximize")])] == [1, 2, 7, 4]
    assert ranked[0].params == {"lr": pytest.approx(0.4)}


def test_rank_puts_the_pareto_front_first_with_several_objectives():
    runs = [trial_run(0, {"a": 1.0, "b": 5.0}), trial_run(1, {"a": 2.0, "b": 6.0}),
            trial_run(2, {"a": 3.0, "b": 1.0}), trial_run(3, {"a": 0.5, "b": 9.0})]
    ranked = rank(runs, [("a", "minimize"), ("b", "minimize")])
    assert [t.trial_number for t in ranked] == [3, 0, 2, 1]  # front {3, 0, 2} by a, then the dominated 1


def test_locate_prefers_flag_then_recorded_spec_then_run_directory(tmp_path):
    paths = RunPaths.of("sweep", tmp_path)
    with pytest.raises(UserError, match="--storage-path"):
        locate("sweep", storage_path=str(tmp_path))
    paths.dir.mkdir(parents=True)
    (paths.dir / "mlflow.db").touch()
    assert locate("sweep", storage_path=str(tmp_path)).tracking_uri == paths.tracking_uri
    paths.spec_file.write_text("tracking: {uri: 'http://mlflow:5000', experiment: team-x}\n")
    recorded = locate("sweep", storage_path=str(tmp_path))
    assert (recorded.tracking_uri, recorded.experiment) == ("http://mlflow:5000", "team-x")
    assert locate("sweep", storage_path=str(tmp_path), tracking_uri="http://other").tracking_uri == "http://other"


def record_sweep(uri: str, name: str, direction: str, values: list[float]) -> None:
    """A sweep in MLflow as the recorder leaves it: a parent run and one child run per value (every 4th PRUNED)."""
    client = MlflowClient(uri)
    experiment = client.create_experiment(name)
    objectives = json.dumps([{"metric": "val/loss", "direction": direction}])
    parent = client.create_run(experiment, tags={names.KIND: names.KIND_SWEEP, names.SWEEP: name,
                                                 names.OBJECTIVES: objectives}).info.run_id
    for number, value in enumerate(values):
        tags = {names.PARENT_RUN_ID: parent, names.TRIAL_NUMBER: str(number),
                names.TRIAL_STATE: "PRUNED" if number % 4 == 3 else "COMPLETE",
                names.SEARCHED: json.dumps(["lr"]), names.TRIAL_CONFIG: json.dumps({"lr": number})}
        run = client.create_run(experiment, tags=tags).info.run_id
        client.log_batch(run, metrics=[Metric("val/loss", value, 0, 1)],
                         params=[Param("lr", str(number)), Param("strategy", "dwa" if number % 2 else "fixed")])


@pytest.fixture(scope="module")
def recorded_sweeps(tmp_path_factory):
    """One MLflow store with four sweeps: distinct values and heavy ties (one decimal), each minimized and maximized."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    rng = random.Random(0)
    for direction in ("minimize", "maximize"):
        record_sweep(uri, f"distinct-{direction}", direction, [rng.uniform(-1.0, 1.0) for _ in range(50)])
        record_sweep(uri, f"tied-{direction}", direction, [round(rng.uniform(0.0, 1.0), 1) for _ in range(50)])
    return uri


@pytest.mark.parametrize("name", ["distinct-minimize", "distinct-maximize", "tied-minimize", "tied-maximize"])
@pytest.mark.parametrize("source", ["sqlite", "mlflow"])
def test_best_trials_reads_the_same_leaders_as_ranking_every_run(recorded_sweeps, name, source):
    sweep = open_sweep(name, tracking_uri=recorded_sweeps)
    if source == "mlflow":  # the paged, narrowing read of MLflow's client (a server's, or any non-SQLite store's)
        sweep = replace(sweep, source=MlflowRuns(recorded_sweeps))
    for filter_string in (None, "params.strategy = 'dwa'"):
        every = rank(trial_runs(sweep, state="COMPLETE", filter_string=filter_string), sweep.objectives)
        for top in (1, 3, 7, 40):
            best = best_trials(sweep, top=top, filter_string=filter_string)
            assert [t.trial_number for t in best] == [t.trial_number for t in every[:top]]
