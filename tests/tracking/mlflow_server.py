"""A real `mlflow server` subprocess for the tests: own process group, SQLite backend, stopped by group, restartable."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

STARTUP_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str, process: subprocess.Popen, timeout_s: float) -> bool:
    """Poll ``url`` until it answers 200 (True), ``process`` exits or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def terminate_group(process: subprocess.Popen, timeout_s: float) -> None:
    """SIGTERM the process group ``process`` leads (started with ``start_new_session``), SIGKILL it after ``timeout_s``."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


class MlflowServer:
    """``mlflow server`` on 127.0.0.1:``port`` with its store under ``root``; :meth:`stop` and :meth:`start` again keep both."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.backend = f"sqlite:///{root / 'mlflow.db'}"
        self.artifacts = root / "artifacts"
        self._process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
            "--backend-store-uri", self.backend, "--artifacts-destination", str(self.artifacts), "--workers", "1",
        ]
        # The job runner (huey consumers) is not needed to record runs and slows start-up.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with (self.root / "server.log").open("a") as log:
            self._process = subprocess.Popen(
                command, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if answers(f"{self.uri}/health", self._process, STARTUP_TIMEOUT_S):
            return
        if self._process.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {(self.root / 'server.log').read_text()[-2000:]}")
        self.stop()
        raise RuntimeError(f"mlflow server did not answer /health within {STARTUP_TIMEOUT_S} s")

    def stop(self) -> None:
        """SIGTERM the server's process group (uvicorn runs in a child), SIGKILL what is left after 20 s."""
        if self._process is None:
            return
        group = self._process.pid  # start_new_session: the process group id is the leader's pid
        terminate_group(self._process, timeout_s=20)
        # uvicorn's worker may outlive the leader for a moment and still hold the port.
        deadline = time.monotonic() + 20
        while True:
            try:
                os.killpg(group, 0 if time.monotonic() < deadline else signal.SIGKILL)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        self._process = None
