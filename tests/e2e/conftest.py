"""The e2e tests' shared sweep: the quickstart, shrunk, recorded in a real `mlflow server` (once a session)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from cli_sweeps import SHRINK, weightsearch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracking"))  # the MLflow server helper of the tracking tests

from mlflow_server import MlflowServer


class RecordedSweep(NamedTuple):
    server: MlflowServer
    root: Path  # the sweep's run directory is root / "runs" / "quickstart"
    stdout: str  # what `weightsearch run` printed


@pytest.fixture(scope="session")
def recorded_quickstart(tmp_path_factory) -> Iterator[RecordedSweep]:
    """The shrunk quickstart (the shipped spec by name) run by the CLI under ``root/runs``, recorded in a real ``mlflow server``: read it, never write."""
    root = tmp_path_factory.mktemp("e2e-mlflow")
    server = MlflowServer(root / "server")
    server.start()
    try:
        # The shipped spec by its name, from a directory without search_spaces/ (as the README says it works).
        ran = weightsearch("run", "quickstart", "--storage-path", str(root / "runs"),
                           "--tracking-uri", server.uri, *SHRINK, cwd=root)
        assert ran.returncode == 0, ran.stderr[-3000:]
        yield RecordedSweep(server, root, ran.stdout)
    finally:
        server.stop()
