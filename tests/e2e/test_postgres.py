"""A quickstart sweep with its Optuna study on PostgreSQL and MLflow on a PostgreSQL-backed `mlflow server`.

Needs a PostgreSQL whose role may create databases: `eval "$(.ci/postgres.sh)"` provides one and sets
WS_TEST_POSTGRES_URL. The test creates its own two databases (Optuna and MLflow both keep an
`alembic_version` table, so they cannot share one) and drops them afterwards. Passwords travel as
PGPASSWORD, never in a URL on a command line, as deploy/README.md recommends.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import optuna
import pytest
from sqlalchemy.engine import URL, make_url

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif("WS_TEST_POSTGRES_URL" not in os.environ, reason="WS_TEST_POSTGRES_URL unset (.ci/postgres.sh)"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = REPO_ROOT / "search_spaces" / "quickstart.yaml"
SHRINK = ["--num-samples", "2", "--max-concurrent", "2", "--set", "trial.steps=20", "--set", "trial.eval_every=10"]
STARTUP_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def databases():
    """Two fresh databases on the test server: (Optuna URL, MLflow URL), both without the password."""
    import psycopg2

    server = make_url(os.environ["WS_TEST_POSTGRES_URL"])
    names = [f"ws_{kind}_{secrets.token_hex(4)}" for kind in ("optuna", "mlflow")]
    admin = psycopg2.connect(
        host=server.host, port=server.port, user=server.username, password=server.password, dbname=server.database
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        for name in names:
            cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        # URL.set() cannot drop a password (None means "keep"); build the password-free URLs instead.
        urls = [
            URL.create(server.drivername, server.username, None, server.host, server.port, name).render_as_string()
            for name in names
        ]
        yield server, urls
    finally:
        with admin.cursor() as cursor:
            for name in names:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_quickstart_on_postgresql_optuna_and_a_postgresql_mlflow_server(databases, tmp_path):
    server, (optuna_url, mlflow_url) = databases
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PGPASSWORD": server.password}
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    with (tmp_path / "mlflow.log").open("w") as log:
        mlflow_server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", mlflow_url, "--artifacts-destination", str(tmp_path / "artifacts")],
            env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    tracking_uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert mlflow_server.poll() is None, (tmp_path / "mlflow.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{tracking_uri}/health", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "mlflow server never answered /health"
                time.sleep(0.3)

        run = subprocess.run(
            [sys.executable, "-m", "weightsearch.cli", "run", str(QUICKSTART), "--storage-path", str(tmp_path / "runs"),
             "--tracking-uri", tracking_uri, "--set", f"storage.optuna_url={optuna_url}", *SHRINK],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=400,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert server.password not in run.stdout + run.stderr

        study = optuna.load_study(
            study_name="quickstart", storage=make_url(optuna_url).set(password=server.password).render_as_string(hide_password=False)
        )
        states = {trial.state for trial in study.trials}
        assert len(study.trials) == 2 and states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        experiment = client.get_experiment_by_name("quickstart")
        trial_runs = client.search_runs([experiment.experiment_id], "tags.`weightsearch.kind` = 'trial'")
        assert sorted(int(run.data.tags["optuna.trial_number"]) for run in trial_runs) == [0, 1]
        assert all("val/action/mse" in run.data.metrics for run in trial_runs)
    finally:
        os.killpg(mlflow_server.pid, signal.SIGTERM)
        try:
            mlflow_server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(mlflow_server.pid, signal.SIGKILL)
            mlflow_server.wait()
