"""A sweep through `--ray-address` on a real two-node Ray cluster (two `ray start` processes on loopback)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from test_tuner import SPEC

from weightsearch.config import load_spec
from weightsearch.errors import UserError
from weightsearch.search.tuner import run_sweep

# The worker node imports `weightsearch` and the `sweep_plugins` test model from here.
WORKER_PYTHONPATH = os.pathsep.join([str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])])

RAY = str(Path(sys.executable).parent / "ray")
NODE_CPUS = 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """End a `ray start --block` and everything it started (its own process group)."""
    for sig, wait_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait_s)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def cluster_env(tmp_path):
    """Environment shared by head, worker and driver: Ray 2.60's token auth needs the same token in all three."""
    return {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "PYTHONPATH": WORKER_PYTHONPATH,
    }


@pytest.fixture
def two_nodes(tmp_path, cluster_env):
    """The address of a head and one worker node, one CPU each; both torn down by process group."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", str(NODE_CPUS), "--num-gpus", "0", "--block"]
    processes = []
    try:
        processes.append(_start(
            [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--include-dashboard", "false", *common],
            cluster_env, tmp_path / "head.log",
        ))
        _wait_for_port("127.0.0.1", port)
        processes.append(_start(
            [RAY, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common], cluster_env, tmp_path / "worker.log"
        ))
        _wait_for_nodes(address, 2, cluster_env)
        yield address
    finally:
        for process in reversed(processes):
            _stop(process)


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_port(host: str, port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"no Ray head on {host}:{port} after {timeout_s} s")


def _wait_for_nodes(address: str, count: int, env: dict[str, str], timeout_s: float = 60) -> None:
    script = (
        "import ray, time\n"
        f"ray.init(address={address!r}, configure_logging=False)\n"
        f"deadline = time.monotonic() + {timeout_s}\n"
        f"while sum(n['Alive'] for n in ray.nodes()) < {count} and time.monotonic() < deadline:\n"
        "    time.sleep(0.5)\n"
        "print(sum(n['Alive'] for n in ray.nodes()))\n"
    )
    alive = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout_s + 30)
    assert alive.stdout.strip().splitlines()[-1:] == [str(count)], alive.stderr[-2000:]


def test_sweep_runs_on_a_two_node_cluster(two_nodes, cluster_env, tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump({**SPEC, "name": "cluster", "budget": {"num_samples": 2, "max_concurrent": 2}}))
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "weightsearch.cli", "run", str(spec_file), "--storage-path", str(runs)]
    run = subprocess.run([*command, "--ray-address", two_nodes], env=cluster_env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]

    study = optuna.load_study(study_name="cluster", storage=f"sqlite:///{runs / 'cluster' / 'optuna.db'}")
    assert len(study.trials) == 2 and all(trial.state.is_finished() for trial in study.trials)
    # Each node has one CPU and a trial takes one, and both ran at once: one on each node.
    results = [json.loads(line) for path in (runs / "cluster" / "ray" / "cluster").glob("trial_*/result.json") for line in path.read_text().splitlines()]
    assert len({result["pid"] for result in results}) >= 2


def test_unreachable_ray_address_is_a_user_error_and_writes_nothing(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC))
    address = f"127.0.0.1:{_free_port()}"
    spec = load_spec(spec_file, [f"storage.path={tmp_path / 'runs'}", f"ray.address={address}"])
    with pytest.raises(UserError, match=f"no Ray head answers at {address}"):
        run_sweep(spec)
    assert not (tmp_path / "runs").exists()
