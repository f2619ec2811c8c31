"""Shared fixtures of the tracking tests: a real MLflow tracking server."""

from __future__ import annotations

import pytest

from mlflow_server import MlflowServer


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    yield server
    server.stop()
