"""A local sweep's Ray listens on loopback only: every listening socket of the sweep's process tree, during a real sweep."""

from __future__ import annotations

import time

import pytest
from cli_sweeps import LR_SPACE, finish, running_with_values, start, wait_for, write_spec
from listening import is_loopback, listening_sockets
from mlflow.tracking import MlflowClient

from weightsearch.tracking import names

pytestmark = pytest.mark.e2e


def test_every_ray_process_of_a_local_sweep_listens_on_loopback_only(tmp_path):
    name = "loopback"
    spec = write_spec(
        tmp_path,
        name,
        num_samples=2,
        space=LR_SPACE,
        sampler={"name": "random", "seed": 0},
        options={"step_sleep_s": 0.05},
    )
    run = start("run", str(spec))
    wait_for(tmp_path, name, running_with_values, run)
    seen: set[tuple[int, str, str, int]] = set()
    for _ in range(3):  # workers and agents come and go: look a few times while trials run
        seen |= set(listening_sockets(run.pid))
        time.sleep(0.5)
    code, _, stderr = finish(run)
    assert code == 0, stderr[-3000:]

    commands = {command for _, command, _, _ in seen}
    assert {"gcs_server", "raylet"} <= commands and any(command.startswith("ray::") for command in commands), seen
    exposed = sorted(entry for entry in seen if not is_loopback(entry[2]))
    assert exposed == [], exposed
    # Token authentication stays on, and Ray's advice to turn it off is not shown.
    assert "RAY_AUTH_MODE" not in stderr, stderr[-3000:]

    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / name / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    [parent] = client.search_runs([experiment.experiment_id], f"tags.`{names.KIND}` = 'sweep'")
    host, _, port = parent.data.tags[names.RAY_ADDRESS].rpartition(":")
    assert is_loopback(host) and port.isdigit(), parent.data.tags[names.RAY_ADDRESS]
