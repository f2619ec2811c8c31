"""The private or undocumented parts of Optuna, Ray and MLflow that weightsearch still relies on.

Each is used in one function of the package, with a comment saying why no public API does it; each
test here checks the exact shape that function relies on, so that an upgrade which changes it fails
here, by name, instead of in the middle of a sweep.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import optuna
import pytest
from optuna.trial import TrialState

from weightsearch.cluster import client as cluster_client
from weightsearch.search.bridge import _live_trial
from weightsearch.search.pruning import error_reason
from weightsearch.search.tuner import RAY_AUTH_LOGGER, RAY_DRIVER_ENVIRONMENT, _without_auth_opt_out_hint
from weightsearch.tracking import names
from weightsearch.tracking.connection import PROBE_ENDPOINT, request_once

# --- Optuna -------------------------------------------------------------------------------------


def test_optuna_trial_is_rebuilt_from_the_frozen_trials_private_id(tmp_path):
    """search.bridge._live_trial: ``Trial(study, trial_id)`` with ``FrozenTrial._trial_id`` (a resume)."""
    assert list(inspect.signature(optuna.trial.Trial.__init__).parameters) == ["self", "study", "trial_id"]
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="live")
    asked = study.ask()
    x = asked.suggest_float("x", 0.0, 1.0)
    asked.report(0.9, 1)
    frozen = study.get_trials(deepcopy=False)[0]
    assert isinstance(frozen._trial_id, int)

    live = _live_trial(study, frozen)
    assert live.number == frozen.number
    assert live.suggest_float("x", 0.0, 1.0) == x  # the stored value, not a new sample
    live.report(0.5, 2)
    assert not live.should_prune()
    study.tell(live, 0.5)
    (told,) = study.trials
    assert told.state == TrialState.COMPLETE and told.intermediate_values == {1: 0.9, 2: 0.5}


# --- Ray ------------------------------------------------------------------------------------------


def test_ray_trial_keeps_its_exception_in_pickled_error_file_before_the_hooks_run(local_ray, tmp_path, monkeypatch, capsys, caplog):
    """search.pruning.error_reason reads ``Trial.pickled_error_file`` in the scheduler's ``on_trial_error``;
    search.tuner.RAY_DRIVER_ENVIRONMENT silences Ray's console table and per-failure traceback."""
    from ray import tune
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import FIFOScheduler

    assert isinstance(inspect.getattr_static(Trial, "pickled_error_file"), property)
    for name, value in RAY_DRIVER_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    reasons: list[str] = []

    class Recording(FIFOScheduler):
        def on_trial_error(self, tune_controller, trial):
            reasons.append(error_reason(trial))

    def failing(config):
        raise ValueError("checked by test_private_apis")

    capsys.readouterr()
    tune.Tuner(
        failing,
        tune_config=tune.TuneConfig(scheduler=Recording(), num_samples=1),
        run_config=tune.RunConfig(name="private", storage_path=str(tmp_path), verbose=0),
    ).fit()
    assert reasons == ["ValueError: checked by test_private_apis"]
    printed = capsys.readouterr()
    assert "Configuration for experiment" not in printed.out + printed.err  # RAY_AIR_NEW_OUTPUT=0
    assert "Trial task failed" not in caplog.text + printed.err  # TUNE_PRINT_ALL_TRIAL_ERRORS=0


def test_ray_still_documents_the_driver_environment_variables():
    """search.tuner.RAY_DRIVER_ENVIRONMENT: Ray lists every environment variable it reads."""
    from ray.air.constants import AIR_ENV_VARS
    from ray.tune.constants import TUNE_ENV_VARS

    assert set(RAY_DRIVER_ENVIRONMENT) <= AIR_ENV_VARS | TUNE_ENV_VARS


def test_a_loopback_node_address_stays_loopback_while_ray_is_told_it_is_single_machine():
    """search.tuner._single_machine_node_ip: ``ray_constants.ENABLE_RAY_CLUSTER``, read by ``resolve_ip_for_localhost``."""
    from ray._private import ray_constants, services

    from weightsearch.search.tuner import _single_machine_node_ip

    kept = ray_constants.ENABLE_RAY_CLUSTER
    assert isinstance(kept, bool)
    with _single_machine_node_ip():
        assert services.resolve_ip_for_localhost("127.0.0.1") == "127.0.0.1"
    assert ray_constants.ENABLE_RAY_CLUSTER is kept


def test_rays_hint_to_turn_token_auth_off_is_logged_where_the_filter_looks(caplog):
    """search.tuner._without_auth_opt_out_hint: the hint is logged by RAY_AUTH_LOGGER and dropped there."""
    module = importlib.import_module(RAY_AUTH_LOGGER)
    with caplog.at_level("WARNING", logger=RAY_AUTH_LOGGER):
        module._warn_token_auth_enabled()
        assert "RAY_AUTH_MODE=disabled" in caplog.text
        caplog.clear()
        with _without_auth_opt_out_hint():
            module._warn_token_auth_enabled()
        assert caplog.text == ""


def test_the_quieted_ray_loggers_still_exist():
    """cluster.client._CHATTY_LOGGERS name Ray modules (one private) by their logger names."""
    for name in cluster_client._CHATTY_LOGGERS:
        assert importlib.util.find_spec(name) is not None, name


# --- MLflow ---------------------------------------------------------------------------------------


def test_mlflow_http_request_still_takes_a_retry_count_and_a_timeout_per_call():
    """tracking.connection.request_once: ``mlflow.utils.rest_utils.http_request`` and its credentials."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    parameters = inspect.signature(http_request).parameters
    assert list(parameters)[:3] == ["host_creds", "endpoint", "method"]
    assert {"max_retries", "timeout", "retry_timeout_seconds", "kwargs"} <= set(parameters)
    assert get_default_host_creds("http://127.0.0.1:5000").host == "http://127.0.0.1:5000"
    with pytest.raises(Exception, match="127.0.0.1"):
        request_once("http://127.0.0.1:9", PROBE_ENDPOINT, {"max_results": 1}, timeout_s=2)


def test_the_probe_endpoint_is_served_by_mlflow():
    from mlflow.server.handlers import get_endpoints

    assert any(path == PROBE_ENDPOINT and "POST" in methods for path, _, methods in get_endpoints())


def test_mlflow_constants_kept_as_literals_still_match_mlflow():
    """tracking.names: the parent-run tag and the param value limit (MLflow exports them from ``mlflow.utils``)."""
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    assert names.PARENT_RUN_ID == names.MLFLOW_PARENT_RUN_ID == MLFLOW_PARENT_RUN_ID
    assert names.MAX_PARAM_VALUE_LENGTH == MAX_PARAM_VAL_LENGTH


def test_mlflow_client_log_batch_splits_what_exceeds_the_server_limits(tmp_path):
    """tracking.writer sends each operation in one ``log_batch`` (undocumented: the client splits it)."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("limits")).info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(f"m{i}", float(i), 0, 0) for i in range(1500)],
        params=[Param(f"p{i}", str(i)) for i in range(150)],
        tags=[RunTag(f"t{i}", str(i)) for i in range(150)],
        synchronous=True,
    )
    data = client.get_run(run_id).data
    assert len(data.metrics) == 1500 and len(data.params) == 150
    assert sum(key.startswith("t") for key in data.tags) == 150


def test_the_mlflow_ui_still_reads_the_workflow_kind_and_shared_view_it_is_opened_with():
    """tracking.ui: the UI bundle's URL parameters and experiment tags (read from its source, undocumented)."""
    from pathlib import Path

    import mlflow

    from weightsearch.tracking import ui

    bundle = "".join(
        path.read_text(errors="ignore")
        for path in (Path(mlflow.__file__).parent / "server/js/build/static/js").glob("*.js")
    )
    for literal in (ui.EXPERIMENT_KIND_TAG, ui.MODEL_TRAINING_KIND, ui.WORKFLOW_PARAMETER, ui.MODEL_TRAINING_WORKFLOW,
                    ui.SHARED_VIEW_TAG_PREFIX, ui.SHARED_VIEW_PARAMETER, "/experiments/:experimentId/runs"):
        assert f'"{literal}"' in bundle, literal
    for key in ("searchFilter", "orderByKey", "orderByAsc", "selectedColumns"):  # the shared view's keys
        assert f'"{key}"' in bundle, key
