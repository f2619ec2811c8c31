"""Every way MLflow can disagree with the Optuna study is found, and what can be fixed is: a real SQLite
study and a real SQLite MLflow store, set up by hand in each state a crash, a time budget or a resume leaves."""

from __future__ import annotations

from datetime import datetime

import optuna
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState, create_trial

from weightsearch.contracts import ATTR_FAIL_REASON, ATTR_PARAMS, ATTR_STOP_REASON
from weightsearch.search.budget import BUDGET_REASON
from weightsearch.tracking import names
from weightsearch.tracking.reconcile import reconcile

METRIC = "val/main/mse"


def _store(tmp_path):
    """A study and an MLflow parent run made by hand, to set up each way the two can disagree."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="hand")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = client.create_experiment("hand")
    parent = client.create_run(experiment_id, tags={names.KIND: names.KIND_SWEEP}).info.run_id
    return study, client, experiment_id, parent


def _trial(study, state, values, *, attrs=None, value=None):
    distribution = optuna.distributions.FloatDistribution(0.0, 1.0)
    study.add_trial(create_trial(
        state=state, value=value, params={"lr": 0.5}, distributions={"lr": distribution},
        intermediate_values=values, user_attrs={ATTR_PARAMS: {"lr": 0.5}, **(attrs or {})},
    ))


def _run(client, experiment_id, parent, number, state, points, tags=None):
    run_id = client.create_run(experiment_id, tags={
        names.KIND: names.KIND_TRIAL, names.TRIAL_NUMBER: str(number), names.PARENT_RUN_ID: parent,
        names.TRIAL_STATE: state, **(tags or {})}).info.run_id
    now = int(datetime.now().timestamp() * 1000)
    # A point a moment after the one before: MLflow keeps identical points (same time too) once.
    client.log_batch(run_id, metrics=[Metric(METRIC, value, now + index, step) for index, (step, value)
                                      in enumerate(points)], synchronous=True)
    if state != "RUNNING":
        client.set_terminated(run_id, names.RUN_STATUS[state])
    return run_id


def test_every_kind_of_disagreement_is_found_and_what_can_be_fixed_is(tmp_path):
    study, client, experiment_id, parent = _store(tmp_path)
    # 0: COMPLETE in Optuna, left RUNNING in MLflow (killed between the tell and the MLflow end).
    _trial(study, TrialState.COMPLETE, {10: 0.5, 20: 0.25}, value=0.25)
    killed = _run(client, experiment_id, parent, 0, "RUNNING", [(10, 0.5), (20, 0.25)])
    # 1: FAIL in Optuna, recorded COMPLETE (as Ray saw it) with a stale stop reason; its step 20 was put
    # back into the study from the checkpoint by a resume, never into MLflow.
    _trial(study, TrialState.FAIL, {10: 0.7, 20: 0.6}, attrs={ATTR_FAIL_REASON: "NonFiniteLossError: nan"})
    failed = _run(client, experiment_id, parent, 1, "COMPLETE", [(10, 0.7)], tags={names.STOP_REASON: "old"})
    # 2: PRUNED by the time budget, no MLflow run at all (stopped before Ray started it).
    _trial(study, TrialState.PRUNED, {10: 0.9}, attrs={ATTR_STOP_REASON: BUDGET_REASON})
    # 3: agrees, except a step logged twice (cannot be undone: reported).
    _trial(study, TrialState.COMPLETE, {10: 0.4}, value=0.4)
    _run(client, experiment_id, parent, 3, "COMPLETE", [(10, 0.4), (10, 0.4)])

    found = reconcile(study, client, experiment_id=experiment_id, parent_run_id=parent, metrics=[METRIC], fix=False)
    by_trial = {}
    for mismatch in found.mismatches:
        by_trial.setdefault(mismatch.number, set()).add(mismatch.field)
    assert by_trial == {0: {"state", "status"}, 1: {"state", "status", "reason", "history"}, 2: {"run"},
                        3: {"history"}}
    assert client.get_run(killed).info.status == "RUNNING"  # fix=False changes nothing

    reconcile(study, client, experiment_id=experiment_id, parent_run_id=parent, metrics=[METRIC])
    again = reconcile(study, client, experiment_id=experiment_id, parent_run_id=parent, metrics=[METRIC], fix=False)
    assert [(m.number, m.field) for m in again.mismatches] == [(3, "history")]
    assert client.get_run(killed).info.status == "FINISHED"
    run = client.get_run(failed)
    assert run.info.status == "FAILED" and run.data.tags[names.TRIAL_STATE] == "FAIL"
    assert run.data.tags[names.FAIL_REASON] == "NonFiniteLossError: nan" and names.STOP_REASON not in run.data.tags
    assert [(m.step, m.value) for m in client.get_metric_history(failed, METRIC)] == [(10, 0.7), (20, 0.6)]
    [created] = client.search_runs([experiment_id], f"tags.`{names.TRIAL_NUMBER}` = '2'")
    assert created.info.status == "KILLED" and created.data.tags[names.STOP_REASON] == BUDGET_REASON
    assert created.data.params["lr"] == "0.5" and created.data.tags[names.PARENT_RUN_ID] == parent
    assert created.data.tags[names.KIND] == names.KIND_TRIAL
    assert [m.step for m in client.get_metric_history(created.info.run_id, METRIC)] == [10]
