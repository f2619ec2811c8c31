"""MLflow's UI opens on a sweep's trials: the runs view, the objective and searched values as columns."""

from __future__ import annotations

import json

from mlflow.tracking import MlflowClient

from weightsearch.tracking import ui


def test_the_experiment_opens_on_the_trials_sorted_by_the_objective(mlflow_server):
    client = MlflowClient(mlflow_server.uri)
    experiment_id = client.create_experiment("ui-view")
    ui.set_up_experiment(client, experiment_id, [("val/action/mse", "minimize")], ["strategy", "lr"])
    tags = client.get_experiment(experiment_id).tags
    assert tags[ui.EXPERIMENT_KIND_TAG] == ui.MODEL_TRAINING_KIND
    view = json.loads(tags[ui.SHARED_VIEW_TAG_PREFIX + ui.VIEW_KEY])
    assert view["orderByKey"] == "metrics.`val/action/mse`" and view["orderByAsc"] is True
    assert view["selectedColumns"] == ["metrics.`val/action/mse`", "params.`lr`", "params.`strategy`"]
    assert view["searchFilter"] == "tags.`weightsearch.kind` = 'trial'"


def test_the_url_names_the_runs_view_and_the_stored_view():
    local = ui.runs_view_url("sqlite:////runs/quickstart/mlflow.db", "1")
    assert (
        local
        == "http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning&viewStateShareKey=weightsearch-trials"
    )
    remote = ui.runs_view_url("https://user:secret@mlflow.example.org/", "7")
    assert remote.startswith("https://user:***@mlflow.example.org/#/experiments/7/runs?workflowType=machine_learning")
