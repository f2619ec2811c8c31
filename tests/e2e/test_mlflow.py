"""The quickstart sweep through the command line, recorded in a real MLflow server, then queried back.

`best` reads MLflow only; its answer must agree with the Optuna study, and its YAML must train as is.
"""

from __future__ import annotations

import json

import optuna
import pytest
import yaml
from cli_sweeps import weightsearch
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.e2e
def test_sweep_is_recorded_as_parent_and_nested_children(recorded_quickstart):
    server, root, _ = recorded_quickstart
    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("quickstart")
    [parent] = client.search_runs([experiment.experiment_id], "tags.`weightsearch.kind` = 'sweep'")
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    study = optuna.load_study(study_name="quickstart", storage=f"sqlite:///{root / 'runs' / 'quickstart' / 'optuna.db'}")
    assert sorted(int(run.data.tags["optuna.trial_number"]) for run in children) == [t.number for t in study.trials]
    for run in children:
        trial = study.trials[int(run.data.tags["optuna.trial_number"])]
        assert run.data.tags["weightsearch.trial_state"] == trial.state.name
        assert {"train/loss/action", "train/weight/align", "val/action/mse"} <= set(run.data.metrics)
        assert run.data.params["strategy"] == trial.user_attrs["params"]["strategy"]
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "plots")} >= {"plots/weight_trajectories.png"}


def test_best_agrees_with_the_study_and_its_yaml_trains(recorded_quickstart, tmp_path):
    server, root, _ = recorded_quickstart
    study = optuna.load_study(study_name="quickstart", storage=f"sqlite:///{root / 'runs' / 'quickstart' / 'optuna.db'}")
    best = weightsearch("best", "quickstart", "--tracking-uri", server.uri, "--format", "json", cwd=root)
    assert best.returncode == 0, best.stderr
    ranked = json.loads(best.stdout)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(ranked) == min(5, len(complete))
    assert ranked[0]["trial_number"] == study.best_trial.number
    assert ranked[0]["objective"] == {"name": "val/action/mse", "value": pytest.approx(study.best_value)}
    assert [entry["objective"]["value"] for entry in ranked] == sorted(entry["objective"]["value"] for entry in ranked)

    # without --tracking-uri, `best` finds the server from the run directory's spec
    from_run_dir = weightsearch("best", "quickstart", "--storage-path", str(root / "runs"), "--format", "json", cwd=root)
    assert json.loads(from_run_dir.stdout) == ranked

    as_yaml = weightsearch("best", "quickstart", "--tracking-uri", server.uri, "--format", "yaml", cwd=root)
    assert as_yaml.returncode == 0, as_yaml.stderr
    config_file = tmp_path / "best.yaml"
    config_file.write_text(as_yaml.stdout)
    assert yaml.safe_load(as_yaml.stdout) == ranked[0]["config"]
    trained = weightsearch("train", str(config_file), "--format", "json", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    # the same configuration, trained again, lands on the recorded objective (same seed, same data)
    assert json.loads(trained.stdout)["val/action/mse"] == pytest.approx(study.best_value, rel=0.05)
