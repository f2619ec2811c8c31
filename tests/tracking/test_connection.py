"""The fast reachability check that runs before a sweep creates anything."""

from __future__ import annotations

import time

import pytest

from mlflow_server import free_port
from weightsearch.errors import UserError
from weightsearch.tracking.connection import check_tracking_uri, probe


def test_unreachable_server_is_one_line_user_error_quickly():
    uri = f"http://ws-user:hidden@127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(UserError) as raised:
        check_tracking_uri(uri)
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert message.startswith("MLflow tracking server at http://ws-user:***@127.0.0.1:")
    assert "is unreachable" in message and "start it or pass --tracking-uri" in message
    assert "hidden" not in message and "\n" not in message


def test_running_server_passes(mlflow_server):
    check_tracking_uri(mlflow_server.uri)
    assert probe(mlflow_server.uri) is None


def test_local_store_is_not_probed(tmp_path):
    check_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert not (tmp_path / "mlflow.db").exists()
