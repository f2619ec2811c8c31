"""The `submit` and `jobs` commands fail fast, in one line, with exit code 2 on addresses that cannot work."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from weightsearch.cli import build_parser, main
from weightsearch.cluster.address import dashboard_url
from weightsearch.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = REPO_ROOT / "search_spaces" / "quickstart.yaml"
# An address failure must come back well before an HTTP client's own timeouts (minutes).
FAST_S = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def weightsearch(*argv: str, home: Path, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("RAY_ADDRESS", "RAY_AUTH", "RAY_API"))}
    clean.update(PYTHONPATH=str(REPO_ROOT), HOME=str(home), **env)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "weightsearch.cli", *argv], capture_output=True, text=True, env=clean, timeout=120
    )
    return result, time.monotonic() - started


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def not_ray():
    """An HTTP server on 127.0.0.1 that is not Ray: answers 404 to everything and counts the requests."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            requests.append(self.path)
            self.send_error(404)

        do_POST = do_PUT = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("address", ["nope:xx", "ftp://head:8265", "http://head:8265/jobs", "http://:8265", "head:x"])
def test_a_malformed_address_is_refused_naming_the_fix(address):
    with pytest.raises(UserError, match="--address: .* is not the Ray dashboard's address; write http://HEAD:8265"):
        dashboard_url(address)


def test_addresses_default_to_http_and_the_dashboard_port(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert dashboard_url("head") == "http://head:8265"
    assert dashboard_url("10.0.0.5:9000/") == "http://10.0.0.5:9000"
    assert dashboard_url("https://ray.example.com") == "https://ray.example.com"
    monkeypatch.setenv("RAY_ADDRESS", "http://from-env:8265")
    assert dashboard_url(None) == "http://from-env:8265"
    assert dashboard_url("http://flag:8265") == "http://flag:8265"


def test_a_malformed_address_is_one_line_exit_2_from_the_command_line(tmp_path):
    result, elapsed = weightsearch("jobs", "--address", "nope:xx", home=tmp_path)
    assert_one_line_error(result, "--address", "http://HEAD:8265")
    assert elapsed < FAST_S


def test_nothing_listening_is_one_line_exit_2_before_the_spec_is_read(tmp_path):
    address = f"http://127.0.0.1:{free_port()}"
    result, elapsed = weightsearch("submit", str(QUICKSTART), "--address", address, home=tmp_path)
    assert_one_line_error(result, f"no Ray dashboard answers at {address}")
    assert elapsed < FAST_S


def test_every_jobs_action_reports_an_unreachable_cluster_as_a_user_error(monkeypatch, capsys):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    address = f"http://127.0.0.1:{free_port()}"
    for argv in (["jobs"], ["jobs", "list"], ["jobs", "logs", "raysubmit_x"], ["jobs", "stop", "raysubmit_x"]):
        assert main([*argv, "--address", address]) == 2
        assert capsys.readouterr().err == (
            f"weightsearch jobs: error: --address: no Ray dashboard answers at {address} (Connection refused); "
            "start the cluster, forward its port 8265, or fix the address\n"
        )
    monkeypatch.setenv("RAY_ADDRESS", address)
    assert main(["jobs"]) == 2
    assert address in capsys.readouterr().err
    monkeypatch.delenv("RAY_ADDRESS")
    assert main(["jobs"]) == 2
    assert "pass --address http://HEAD:8265 (the head's dashboard) or set RAY_ADDRESS" in capsys.readouterr().err


def test_a_server_that_is_not_ray_is_one_line_exit_2(tmp_path, not_ray):
    address, requests = not_ray
    result, elapsed = weightsearch("jobs", "--address", address, home=tmp_path)
    assert_one_line_error(result, f"Ray Jobs API at {address}")
    assert requests and elapsed < FAST_S


def test_a_bad_spec_is_exit_2_and_nothing_reaches_the_cluster(tmp_path, not_ray):
    address, requests = not_ray
    result, _ = weightsearch(
        "submit", str(QUICKSTART), "--address", address, "--set", "budget.num_samples=0", home=tmp_path
    )
    assert_one_line_error(result, "budget.num_samples")
    assert requests == []


def test_an_unreadable_token_file_is_one_line_exit_2(tmp_path, not_ray):
    address, _ = not_ray
    result, _ = weightsearch("jobs", "--address", address, home=tmp_path, RAY_AUTH_TOKEN_PATH=str(tmp_path / "none"))
    assert_one_line_error(result, "RAY_AUTH_TOKEN_PATH")


def test_the_address_may_come_before_or_after_the_jobs_action():
    parser = build_parser()
    before = parser.parse_args(["jobs", "--address", "http://a:8265", "logs", "raysubmit_1", "--follow"])
    after = parser.parse_args(["jobs", "logs", "raysubmit_1", "--address", "http://a:8265"])
    listing = parser.parse_args(["jobs"])
    assert (before.address, before.jobs_action, before.job_id, before.follow) == ("http://a:8265", "logs", "raysubmit_1", True)
    assert (after.address, after.follow) == ("http://a:8265", False)
    assert (listing.address, listing.jobs_action) == (None, None)


def test_submit_takes_the_run_overrides_but_not_a_ray_address():
    args = build_parser().parse_args(
        ["submit", "s.yaml", "--wait", "--num-samples", "4", "--max-concurrent", "2", "--storage-path", "/x",
         "--tracking-uri", "http://m:5000", "--set", "a=1", "--name", "n"]
    )
    assert (args.wait, args.num_samples, args.max_concurrent, args.overrides, args.name) == (True, 4, 2, ["a=1"], "n")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["submit", "s.yaml", "--ray-address", "auto"])
