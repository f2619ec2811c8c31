"""The MLflow callback under a real local Ray Tune with the real Optuna searcher/scheduler and a real MLflow server."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import optuna
import pytest
import tracking_trainables as trainables
import yaml
from mlflow.tracking import MlflowClient

from weightsearch.cli import main
from weightsearch.config import SweepSpec, TrialConfig, spec_to_yaml
from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.optuna_factory import make_pruner, make_sampler
from weightsearch.search.tuner import build_tuner
from weightsearch.tracking import names, ui
from weightsearch.tracking.query import open_sweep
from weightsearch.tracking.recorder import MlflowSweepCallback, tracking_dir
from weightsearch.tracking.spool import Spool
from weightsearch.tracking.writer import MlflowWriter

SECRETS = {
    "MLFLOW_TRACKING_USERNAME": "ws-user-3f9a",
    "MLFLOW_TRACKING_PASSWORD": "ws-password-8c1d",
    "MLFLOW_TRACKING_TOKEN": "ws-token-71be",
}
URI_SECRET = "uri-secret-5d2e"
SPACE = {"parameters": {"lr": {"float": [1.0e-4, 1.0e-1], "log": True}, "normalization": {"choice": ["none", "ema"]}}}


def make_spec(tmp_path: Path, name: str, *, tracking_uri: str | None, num_samples: int, trial: dict | None = None,
              pruner: dict | None = None, max_concurrent: int = 2) -> SweepSpec:
    return SweepSpec.model_validate(
        {
            "name": name,
            "objective": {"metric": trainables.OBJECTIVE, "mode": "min"},
            "trial": trial or {"steps": 40, "eval_every": 10},
            "space": SPACE,
            "sampler": {"name": "random", "seed": 0},
            "pruner": pruner or {"name": "threshold", "options": {"upper": trainables.PRUNE_THRESHOLD}},
            "budget": {"num_samples": num_samples, "max_concurrent": max_concurrent},
            "storage": {"path": str(tmp_path / "runs")},
            "tracking": {"uri": tracking_uri},
        }
    )


def run_sweep(spec: SweepSpec, trainable) -> optuna.Study:
    """What the engine's run_sweep does, minus the model check, with ``trainable`` and our callback."""
    spec.paths.dir.mkdir(parents=True, exist_ok=True)
    spec.paths.spec_file.write_text(spec_to_yaml(spec))
    study = optuna.create_study(
        storage=spec.optuna_url, study_name=spec.name, directions=spec.directions,
        sampler=make_sampler(spec), pruner=make_pruner(spec),
    )
    build_tuner(spec, OptunaBridge(study, spec.metrics), trainable, [MlflowSweepCallback(spec)]).fit()
    return study


def children(client: MlflowClient, parent_run_id: str, experiment_id: str):
    return client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'")


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop what Ray printed before
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def recorded_sweep(local_ray, mlflow_server, tmp_path_factory):
    """Six trials (3 COMPLETE with a tie, 2 PRUNED, 1 FAIL) recorded with credentials in the environment."""
    tmp_path = tmp_path_factory.mktemp("recorded")
    saved = {key: os.environ.get(key) for key in SECRETS}
    os.environ.update(SECRETS)
    try:
        uri_with_password = mlflow_server.uri.replace("http://", f"http://ws-user:{URI_SECRET}@")
        spec = make_spec(tmp_path, "recorded", tracking_uri=uri_with_password, num_samples=6)
        study = run_sweep(spec, trainables.reporting_trainable)
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("recorded")
    parents = client.search_runs([experiment.experiment_id], filter_string="tags.`weightsearch.kind` = 'sweep'")
    return spec, study, client, experiment, parents


def test_one_parent_and_one_nested_child_per_trial(recorded_sweep):
    spec, study, client, experiment, parents = recorded_sweep
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags["weightsearch.kind"] == "sweep" and tags["weightsearch.sweep"] == "recorded"
    assert tags["weightsearch.sampler"] == "random" and tags["weightsearch.pruner"] == "threshold"
    assert re.fullmatch(r"[\d.]+:\d+", tags["weightsearch.ray_address"])  # the GCS address of the local Ray
    assert {"weightsearch.version." + p for p in ("weightsearch", "ray", "optuna", "mlflow", "torch")} <= set(tags)
    assert json.loads(tags[names.OBJECTIVES]) == [{"metric": trainables.OBJECTIVE, "direction": "minimize"}]
    assert "trial.lr" in json.loads(tags[names.SPACE_OVERRIDES])  # the base lr param is not what trials ran
    assert parent.data.params["budget.num_samples"] == "6"
    assert parent.data.params["objective.metric"] == trainables.OBJECTIVE
    # the best trial, from the study, on the parent
    assert tags["weightsearch.best.trial_number"] == "3" == str(study.best_trial.number)
    assert parent.data.metrics["best/val/action/mse"] == pytest.approx(study.best_value)
    assert parent.data.metrics["best/params/lr"] == pytest.approx(study.best_trial.user_attrs["params"]["lr"])
    assert parent.data.metrics["trials/complete"] == 3 and parent.data.metrics["trials/pruned"] == 2
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "spec.yaml" in artifacts
    assert plots == {f"plots/{n}.png" for n in ("optimization_history", "param_importances", "intermediate_values",
                                                 "pareto_front", "weight_trajectories")}

    # MLflow's UI opens on the trials (runs view), each trial's values readable in the study
    assert client.get_experiment(experiment.experiment_id).tags[ui.EXPERIMENT_KIND_TAG] == ui.MODEL_TRAINING_KIND
    assert all(trial.user_attrs["value.lr"] == trial.user_attrs["params"]["lr"] for trial in study.trials)

    runs = children(client, parent.info.run_id, experiment.experiment_id)
    by_number = {int(run.data.tags["optuna.trial_number"]): run for run in runs}
    assert len(runs) == 6 and sorted(by_number) == list(range(6))
    for number, run in by_number.items():
        trial = study.trials[number]
        assert run.data.tags["weightsearch.kind"] == "trial"
        assert run.data.tags["weightsearch.sweep_run_id"] == parent.info.run_id
        assert run.data.tags["ray.trial_id"]
        assert run.data.tags["weightsearch.trial_state"] == trial.state.name
        assert run.data.params["lr"] == str(trial.user_attrs["params"]["lr"])
        assert run.data.params["normalization"] == trial.user_attrs["params"]["normalization"]
        assert run.data.params["steps"] == "40" and run.data.params["strategy"] == "fixed"
        config = TrialConfig.model_validate(json.loads(run.data.tags["weightsearch.trial_config"]))
        assert config.lr == trial.user_attrs["params"]["lr"]
    assert {n: r.info.status for n, r in by_number.items()} == {
        0: "FINISHED", 1: "FAILED", 2: "KILLED", 3: "FINISHED", 4: "FINISHED", 5: "KILLED"}
    assert "synthetic failure of trial 1" in by_number[1].data.tags["weightsearch.fail_reason"]


def test_metric_history_at_every_step_skipping_non_numbers(recorded_sweep):
    spec, study, client, experiment, parents = recorded_sweep
    runs = children(client, parents[0].info.run_id, experiment.experiment_id)
    by_number = {int(run.data.tags["optuna.trial_number"]): run for run in runs}
    complete = by_number[0]
    history = client.get_metric_history(complete.info.run_id, "train/weight/align")
    expected = [trainables.metrics_at(0, step)["train/weight/align"] for step in trainables.STEPS]
    assert sorted((m.step, m.value) for m in history) == list(zip(trainables.STEPS, expected))
    logged = set(complete.data.metrics)
    assert "note" not in logged and "step" not in logged and "training_iteration" not in logged
    assert "val/align/recall_1" in logged  # '@' is not allowed in MLflow names
    assert {"train/loss/total", "val/loss/action", "train/contrib/align", "time/train_s"} <= logged
    # pruned at the first report: one point; failed after it: one point too, though Ray retried it
    # (budget.max_retries times) and each attempt reported step 10 again, all in the trial's one run
    for number in (2, 5, 1):
        history = client.get_metric_history(by_number[number].info.run_id, trainables.OBJECTIVE)
        assert [m.step for m in history] == [10]
    # the retries are counted in both stores
    retries = spec.budget.max_retries
    assert study.trials[1].user_attrs["retries"] == retries
    assert by_number[1].data.tags[names.RETRIES] == str(retries)
    assert all(names.RETRIES not in by_number[number].data.tags for number in (0, 2, 3, 4, 5))


def test_credentials_are_never_logged(recorded_sweep, mlflow_server):
    spec, study, client, experiment, parents = recorded_sweep
    stored = [(mlflow_server.root / "mlflow.db").read_bytes()]
    stored += [path.read_bytes() for path in mlflow_server.artifacts.rglob("*") if path.is_file()]
    stored += [path.read_bytes() for path in tracking_dir(spec.paths.dir).rglob("*") if path.is_file()]
    assert len(stored) > 5
    for secret in [*SECRETS.values(), URI_SECRET]:
        assert not any(secret.encode() in blob for blob in stored), secret
    assert parents[0].data.params["tracking.uri"] == mlflow_server.uri.replace("http://", "http://ws-user:***@")


def test_best_json_orders_by_objective_then_trial_number(recorded_sweep, mlflow_server, capsys):
    spec, study, *_ = recorded_sweep
    code, out, _ = cli(capsys, "best", "recorded", "--tracking-uri", mlflow_server.uri, "--format", "json")
    assert code == 0
    best = json.loads(out)
    assert [entry["trial_number"] for entry in best] == [3, 0, 4]  # 0 and 4 tie: lower number first
    assert best[0]["objective"] == {"name": trainables.OBJECTIVE, "value": pytest.approx(study.best_value)}
    assert best[1]["objective"]["value"] == best[2]["objective"]["value"]
    assert all(entry["state"] == "COMPLETE" and entry["run_id"] for entry in best)
    assert best[0]["params"] == study.best_trial.user_attrs["params"]

    code, out, _ = cli(capsys, "best", "recorded", "--tracking-uri", mlflow_server.uri, "--format", "json", "--top", "1")
    assert [entry["trial_number"] for entry in json.loads(out)] == [3]


def test_best_filter_and_table(recorded_sweep, mlflow_server, capsys):
    spec, study, *_ = recorded_sweep
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    with_ema = sorted(t.number for t in complete if t.user_attrs["params"]["normalization"] == "ema")
    code, out, _ = cli(capsys, "best", "recorded", "--tracking-uri", mlflow_server.uri, "--format", "json",
                       "--filter", "params.normalization = 'ema'")
    assert code == 0 and sorted(entry["trial_number"] for entry in json.loads(out)) == with_ema

    code, out, _ = cli(capsys, "best", "recorded", "--tracking-uri", mlflow_server.uri, "--format", "json")
    best_run_id = json.loads(out)[0]["run_id"]
    code, out, _ = cli(capsys, "best", "recorded", "--tracking-uri", mlflow_server.uri)
    assert code == 0 and "best trials of recorded" in out and best_run_id in out

    code, _, err = cli(capsys, "best", "recorded", "--tracking-uri", mlflow_server.uri, "--filter", "params.lr ~ 1")
    assert code == 2 and "--filter" in err and len(err.strip().splitlines()) == 1


def test_best_yaml_is_a_trial_config(recorded_sweep, mlflow_server, capsys, tmp_path):
    spec, study, *_ = recorded_sweep
    code, out, _ = cli(capsys, "best", "recorded", "--tracking-uri", mlflow_server.uri, "--format", "yaml")
    assert code == 0
    config = TrialConfig.model_validate(yaml.safe_load(out))
    assert config.lr == study.best_trial.user_attrs["params"]["lr"]
    assert config.steps == 40 and config.eval_every == 10


def test_show_and_unknown_sweep(recorded_sweep, mlflow_server, capsys):
    spec, study, client, experiment, parents = recorded_sweep
    code, out, _ = cli(capsys, "show", "recorded", "--tracking-uri", mlflow_server.uri)
    assert code == 0
    assert parents[0].info.run_id in out
    assert f"#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning&viewStateShareKey=" in out
    assert "COMPLETE 3, PRUNED 2, FAIL 1, RUNNING 0 (total 6)" in out
    assert "fixed" in out

    code, _, err = cli(capsys, "best", "no-such-sweep", "--tracking-uri", mlflow_server.uri)
    assert code == 2 and "no MLflow experiment 'no-such-sweep'" in err and len(err.strip().splitlines()) == 1


def test_sqlite_default_in_the_run_directory(local_ray, tmp_path, capsys):
    spec = make_spec(tmp_path, "embedded", tracking_uri=None, num_samples=2, pruner={"name": "none"})
    run_sweep(spec, trainables.reporting_trainable)
    client = MlflowClient(spec.paths.tracking_uri)
    experiment = client.get_experiment_by_name("embedded")
    assert experiment.artifact_location == spec.paths.artifact_dir.resolve().as_uri()
    parent = client.search_runs([experiment.experiment_id], filter_string="tags.`weightsearch.kind` = 'sweep'")[0]
    assert len(children(client, parent.info.run_id, experiment.experiment_id)) == 2
    assert list(spec.paths.artifact_dir.rglob("spec.yaml")) and list(spec.paths.artifact_dir.rglob("*.png"))
    # `best` finds the store from the run directory alone
    code, out, _ = cli(capsys, "best", "embedded", "--storage-path", str(tmp_path / "runs"), "--format", "json")
    assert code == 0 and [e["trial_number"] for e in json.loads(out)] == [0]  # trial 1 fails
    code, _, err = cli(capsys, "show", "embedded", "--storage-path", str(tmp_path / "elsewhere"))
    assert code == 2 and "--storage-path" in err


def test_server_outage_mid_sweep_loses_nothing(local_ray, mlflow_server, tmp_path, monkeypatch, caplog):
    # Fail fast instead of MLflow's minutes of retries, so the outage is seen within the test's time.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    steps = 8
    spec = make_spec(tmp_path, "outage", tracking_uri=mlflow_server.uri, num_samples=3, pruner={"name": "none"},
                     max_concurrent=1,
                     trial={"steps": steps, "eval_every": 1, "options": {"seconds_per_step": 0.6}})
    client = MlflowClient(mlflow_server.uri)
    events = []

    def stop_and_restart():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait for the first metrics to reach MLflow
            experiment = client.get_experiment_by_name("outage")
            if experiment and client.search_runs([experiment.experiment_id], "metrics.`val/action/mse` > 0"):
                break
            time.sleep(0.3)
        events.append(("stopping", time.time() * 1000))  # refusing connections from the stop's first moment
        mlflow_server.stop()
        time.sleep(4)  # trials keep reporting, and the next trial starts, while MLflow is away
        events.append(("restarting", time.time() * 1000))
        mlflow_server.start()

    outage = threading.Thread(target=stop_and_restart)
    outage.start()
    with caplog.at_level("WARNING", logger="weightsearch.tracking.writer"):
        run_sweep(spec, trainables.slow_trainable)
    outage.join()
    [(stopping, down_from), (restarting, down_until)] = events
    assert (stopping, restarting) == ("stopping", "restarting")

    experiment = client.get_experiment_by_name("outage")
    parent = client.search_runs([experiment.experiment_id], filter_string="tags.`weightsearch.kind` = 'sweep'")[0]
    runs = children(client, parent.info.run_id, experiment.experiment_id)
    assert sorted(int(run.data.tags["optuna.trial_number"]) for run in runs) == [0, 1, 2]
    reported_while_down = 0
    for run in runs:
        number = int(run.data.tags["optuna.trial_number"])
        history = client.get_metric_history(run.info.run_id, "val/action/mse")
        assert sorted(m.step for m in history) == list(range(1, steps + 1)), number
        assert run.data.tags["weightsearch.trial_state"] == "COMPLETE"
        # A point's timestamp is its report's time on the driver, not the time MLflow got it.
        reported_while_down += sum(down_from < m.timestamp < down_until for m in history)
    # The outage overlapped the trials' reports (0.6 s a step, 4 s down): the writer found MLflow unreachable
    # while they came, kept them, and sent them once it was back.
    assert reported_while_down >= 3, (reported_while_down, down_until - down_from)
    warnings = [(record.created * 1000, record.getMessage()) for record in caplog.records]
    assert any(down_from < at < down_until and "is unreachable" in message for at, message in warnings), warnings
    assert any(at > down_until and re.search(r"reachable again: sending [1-9]", message) for at, message in warnings)
    assert parent.info.status == "FINISHED"
    assert not (tracking_dir(spec.paths.dir) / "spool.jsonl").exists()  # all sent: no spool left behind


def test_operations_kept_while_unreachable_are_replayed_later(mlflow_server, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    spool = Spool(tmp_path / "spool.jsonl")
    closed_port_uri = "http://127.0.0.1:9"  # nothing listens on the discard port
    away = MlflowWriter(closed_port_uri, experiment_name="replayed", sweep_name="replayed", sweep_id="s1",
                        artifact_location=None, spool=spool, retry_interval_s=0.2)
    away.start()
    now = int(time.time() * 1000)
    away.submit({"op": "sweep_start", "time": now, "params": {"a": "1"},
                 "tags": {names.KIND: names.KIND_SWEEP, names.SWEEP: "replayed"}, "artifacts": []})
    away.submit({"op": "trial_start", "time": now, "number": 0, "params": {"lr": "0.1"},
                 "tags": {names.KIND: names.KIND_TRIAL, names.TRIAL_NUMBER: "0"}})
    metrics = {f"m/{index}": float(index) for index in range(2500)}  # more than one log_batch may carry
    away.submit({"op": "metrics", "time": now, "number": 0, "step": 5, "metrics": metrics})
    away.submit({"op": "trial_end", "time": now, "number": 0, "state": "COMPLETE", "reason": None})
    assert not away.close(timeout_s=2)
    assert [op["op"] for op in spool.read()] == ["sweep_start", "trial_start", "metrics", "trial_end"]

    back = MlflowWriter(mlflow_server.uri, experiment_name="replayed", sweep_name="replayed", sweep_id="s1",
                        artifact_location=None, spool=spool)
    back.start()
    assert back.close(timeout_s=60)
    assert spool.read() == []
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("replayed")
    [child] = client.search_runs([experiment.experiment_id], filter_string="tags.`weightsearch.kind` = 'trial'")
    assert child.data.metrics == metrics and child.data.tags["mlflow.parentRunId"] == back.parent_run_id
    assert child.info.status == "FINISHED"

    # a resumed sweep starting trial 0 again continues its run instead of creating a second one
    resumed = MlflowWriter(mlflow_server.uri, experiment_name="replayed", sweep_name="replayed", sweep_id="s1",
                           artifact_location=None, spool=spool)
    resumed.start()
    resumed.submit({"op": "trial_start", "time": now, "number": 0, "params": {"lr": "0.1", "new": "x"},
                    "tags": {names.KIND: names.KIND_TRIAL, names.TRIAL_NUMBER: "0"}})
    # an operation MLflow cannot take (no run of trial 99) is set aside with a warning, not retried forever
    resumed.submit({"op": "trial_end", "time": now, "number": 99, "state": "COMPLETE", "reason": None})
    assert resumed.close(timeout_s=60)
    assert [op["number"] for op in Spool(tmp_path / "spool.rejected.jsonl").read()] == [99]
    [again] = client.search_runs([experiment.experiment_id], filter_string="tags.`weightsearch.kind` = 'trial'")
    assert again.info.run_id == child.info.run_id and again.data.params["new"] == "x"

    # a new sweep (another Optuna study) reusing the name gets its own parent; queries show the latest
    newer = MlflowWriter(mlflow_server.uri, experiment_name="replayed", sweep_name="replayed", sweep_id="s2",
                         artifact_location=None, spool=Spool(tmp_path / "newer.jsonl"))
    newer.start()
    newer.submit({"op": "sweep_start", "time": now + 1, "params": {}, "tags": {names.KIND: names.KIND_SWEEP,
                  names.SWEEP: "replayed"}, "artifacts": []})
    assert newer.close(timeout_s=60) and newer.parent_run_id != back.parent_run_id
    assert open_sweep("replayed", tracking_uri=mlflow_server.uri).parent.info.run_id == newer.parent_run_id
