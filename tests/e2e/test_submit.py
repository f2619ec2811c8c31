"""`weightsearch submit` against a real two-node Ray cluster with token authentication, as a user would run it.

The test starts a head (dashboard and Jobs API on 127.0.0.1) and a worker node with `ray start --block`,
each in its own session so that both end by process group; each node has its own temp dir, as on
separate machines (nodes sharing one would garbage-collect each other's job working directories).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import mlflow
import optuna
import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = REPO_ROOT / "search_spaces" / "quickstart.yaml"
RAY = Path(sys.executable).parent / "ray"
SHRINK = ["--num-samples", "2", "--max-concurrent", "2", "--set", "trial.steps=20", "--set", "trial.eval_every=10"]
STARTUP_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Cluster:
    address: str
    env: dict[str, str]
    token: str

    def weightsearch(self, *argv: str, env: dict[str, str] | None = None, timeout: float = 120):
        return subprocess.run(
            [sys.executable, "-m", "weightsearch.cli", *argv],
            cwd=REPO_ROOT, env=env or self.env, capture_output=True, text=True, timeout=timeout,
        )

    def get(self, path: str):
        request = urllib.request.Request(self.address + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())


def start_node(arguments: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as output:
        return subprocess.Popen(
            [str(RAY), "start", *arguments, "--node-ip-address", "127.0.0.1", "--dashboard-agent-listen-port", "0",
             "--disable-usage-stats", "--block"],
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )


def stop_node(process: subprocess.Popen) -> None:
    for signal_number, grace_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, signal_number)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for(condition, what: str, nodes: list[subprocess.Popen], logs: list[Path]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        for node, log in zip(nodes, logs):
            if node.poll() is not None:
                raise RuntimeError(f"ray start exited: {log.read_text()[-3000:]}")
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the test cluster never reached: {what}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    token = secrets.token_hex(16)
    shim = tmp_path_factory.mktemp("bin") / "weightsearch"
    # The cluster's `weightsearch` is this checkout, as an image would have it installed.
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m weightsearch.cli "$@"\n')
    shim.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RAY_ADDRESS", "RAY_AUTH", "RAY_API"))}
    env.update(
        PATH=f"{shim.parent}{os.pathsep}{env['PATH']}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
    )
    logs = tmp_path_factory.mktemp("logs")
    # Short temp dirs: Ray's Unix socket paths live under them and must stay under 108 bytes.
    head_dir, worker_dir = tempfile.mkdtemp(prefix="wsh", dir="/tmp"), tempfile.mkdtemp(prefix="wsw", dir="/tmp")
    gcs_port, dashboard_port = free_port(), free_port()
    address = f"http://127.0.0.1:{dashboard_port}"
    nodes, node_logs = [], [logs / "head.log", logs / "worker.log"]
    try:
        nodes.append(
            start_node(
                ["--head", "--port", str(gcs_port), "--dashboard-host", "127.0.0.1", "--dashboard-port",
                 str(dashboard_port), "--include-dashboard", "true", "--num-cpus", "1", "--temp-dir", head_dir],
                env, node_logs[0],
            )
        )
        probe = Cluster(address, env, token)
        wait_for(lambda: probe.get("/api/version"), "a dashboard", nodes, node_logs)
        nodes.append(
            start_node(
                ["--address", f"127.0.0.1:{gcs_port}", "--num-cpus", "2", "--temp-dir", worker_dir], env, node_logs[1]
            )
        )
        alive = lambda: sum(node["state"] == "ALIVE" for node in probe.get("/api/v0/nodes")["data"]["result"]["result"])  # noqa: E731
        wait_for(lambda: alive() == 2, "two live nodes", nodes, node_logs)
        yield probe
    finally:
        for node in reversed(nodes):
            stop_node(node)
        shutil.rmtree(head_dir, ignore_errors=True)
        shutil.rmtree(worker_dir, ignore_errors=True)


def test_submit_wait_runs_the_quickstart_as_a_ray_job_and_its_results_land_in_the_stores(cluster, tmp_path):
    runs = tmp_path / "runs"
    submitted = cluster.weightsearch(
        "submit", str(QUICKSTART), "--address", cluster.address, "--wait", "--storage-path", str(runs), *SHRINK,
        timeout=400,
    )
    assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-3000:]
    job_id = submitted.stdout.split()[1]
    assert job_id.startswith("raysubmit_")
    assert f"follow   weightsearch jobs logs {job_id} --follow --address {cluster.address}" in submitted.stdout
    assert f"run dir  {runs}/quickstart" in submitted.stdout
    assert "sweep quickstart ended" in submitted.stdout and f"job {job_id} SUCCEEDED" in submitted.stdout

    study = optuna.load_study(study_name="quickstart", storage=f"sqlite:///{runs}/quickstart/optuna.db")
    states = [trial.state for trial in study.trials]
    assert len(states) == 2 and set(states) <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{runs}/quickstart/mlflow.db")
    experiment = client.get_experiment_by_name("quickstart")
    trial_runs = client.search_runs([experiment.experiment_id], "tags.`weightsearch.kind` = 'trial'")
    assert len(trial_runs) == 2
    assert all("val/action/mse" in run.data.metrics for run in trial_runs)

    listing = cluster.weightsearch("jobs", "--address", cluster.address)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith(job_id))
    assert row.split()[1:3] == ["SUCCEEDED", "quickstart"] and "weightsearch run ./quickstart.yaml" in row
    logs = cluster.weightsearch("jobs", "logs", job_id, "--address", cluster.address)
    assert logs.returncode == 0 and "sweep quickstart ended" in logs.stdout


def test_submit_returns_at_once_and_jobs_stop_ends_the_sweep(cluster, tmp_path):
    from ray.job_submission import JobStatus, JobSubmissionClient

    submitted = cluster.weightsearch(
        "submit", str(QUICKSTART), "--address", cluster.address, "--storage-path", str(tmp_path / "runs"),
        "--num-samples", "4", "--set", "trial.steps=3000",
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split()[1]
    stopped = cluster.weightsearch("jobs", "stop", job_id, "--address", cluster.address)
    assert stopped.returncode == 0 and stopped.stdout.startswith(f"job {job_id} stopping"), stopped.stdout + stopped.stderr
    # An explicit Authorization header: this test process stays out of Ray's token mode.
    client = JobSubmissionClient(cluster.address, headers={"Authorization": f"Bearer {cluster.token}"})
    deadline = time.monotonic() + 60
    while client.get_job_status(job_id) != JobStatus.STOPPED:
        assert time.monotonic() < deadline, client.get_job_status(job_id)
        time.sleep(0.5)


def test_without_the_token_or_with_a_dead_address_submit_is_one_line_exit_2(cluster, tmp_path):
    anonymous = {key: value for key, value in cluster.env.items() if not key.startswith("RAY_AUTH")}
    anonymous["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    refused = cluster.weightsearch("jobs", "--address", cluster.address, env=anonymous)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"weightsearch jobs: error: the Ray cluster at {cluster.address} requires a token; set RAY_AUTH_TOKEN "
        "(or RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token) to the cluster's token (see deploy/README.md)"
    ]
    dead = f"http://127.0.0.1:{free_port()}"
    unreachable = cluster.weightsearch("submit", str(QUICKSTART), "--address", dead)
    assert unreachable.returncode == 2 and len(unreachable.stderr.strip().splitlines()) == 1
    assert f"no Ray dashboard answers at {dead}" in unreachable.stderr
