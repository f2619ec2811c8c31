"""The e2e tests' shared sweep: the quickstart, shortened, recorded in a real `mlflow server` (once a session)."""

from __future__ import annotations

import sys

import pytest
from cli_sweeps import REPO_ROOT, weightsearch

sys.path.insert(0, str(REPO_ROOT / "tests" / "tracking"))  # the MLflow server helper of the tracking tests

from mlflow_server import MlflowServer

QUICKSTART = REPO_ROOT / "search_spaces" / "quickstart.yaml"
# The quickstart, shortened: 4 trials of 40 steps (the pruner's warm-up of 100 steps then never prunes).
SHORTER = ["--num-samples", "4", "--set", "trial.steps=40", "--set", "trial.eval_every=20"]



@pytest.fixture(scope="session")
def recorded_quickstart(tmp_path_factory):
    """(server, root): a finished shortened quickstart under ``root/runs``, recorded in ``server`` (read it, never write)."""
    root = tmp_path_factory.mktemp("e2e-mlflow")
    server = MlflowServer(root / "server")
    server.start()
    try:
        ran = weightsearch("run", str(QUICKSTART), "--storage-path", str(root / "runs"),
                           "--tracking-uri", server.uri, *SHORTER, cwd=root)
        assert ran.returncode == 0, ran.stderr[-3000:]
        yield server, root
    finally:
        server.stop()
