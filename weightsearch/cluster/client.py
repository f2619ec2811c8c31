"""A Ray Jobs client for a dashboard address, with its failures turned into one-line user errors."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from weightsearch.cluster.address import check_reachable, dashboard_url
from weightsearch.cluster.auth import cluster_headers
from weightsearch.errors import UserError

if TYPE_CHECKING:
    from ray.job_submission import JobStatus, JobSubmissionClient

# Variables through which Ray's client would replace the address it is given.
_ADDRESS_VARIABLES = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
# After the log stream closes, the job's final status follows within moments.
_STATUS_WAIT_S = 30.0
# Ray's job client logs each upload and stream event at INFO; our output says what matters. These are
# logger names (module paths, one of them private): a rename only makes the output chattier, and
# tests/test_private_apis.py notices it.
_CHATTY_LOGGERS = (
    "ray.dashboard.modules.job.sdk",
    "ray.dashboard.modules.dashboard_sdk",
    "ray._private.runtime_env.packaging",
)
_HTTP_FAILURE = re.compile(r"^Request failed with status code \d+: (.*?)\.?$")


def connect(address: str | None) -> tuple["JobSubmissionClient", str]:
    """A client for the Ray Jobs API at ``address`` (or ``$RAY_ADDRESS``) and the dashboard URL it uses."""
    url = dashboard_url(address)
    check_reachable(url)
    headers = cluster_headers()
    from ray.job_submission import JobSubmissionClient

    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    with cluster_errors(url), _address_variables_unset():
        return JobSubmissionClient(url, headers=headers), url


@contextmanager
def cluster_errors(url: str) -> Iterator[None]:
    """Turn the Jobs API's failures (auth, connection, HTTP errors, a non-Ray server) into one-line UserErrors."""
    from ray.exceptions import AuthenticationError

    try:
        yield
    except AuthenticationError as error:
        verdict = "rejected the token" if str(error).startswith("Authentication failed") else "requires a token"
        raise UserError(
            f"the Ray cluster at {url} {verdict}; set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token) "
            "to the cluster's token (see deploy/README.md)"
        ) from None
    except (OSError, RuntimeError, ValueError) as error:
        message = _first_line(error)
        http_failure = _HTTP_FAILURE.match(message)
        raise UserError(f"Ray Jobs API at {url}: {http_failure.group(1) if http_failure else message}") from None


def follow_logs(client: "JobSubmissionClient", job_id: str, url: str) -> "JobStatus | None":
    """Print the job's log as it grows until the job ends; returns its final status (None on Ctrl-C)."""

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            sys.stdout.write(chunk)
            sys.stdout.flush()

    with cluster_errors(url):
        try:
            asyncio.run(tail())
        except KeyboardInterrupt:
            print(f"\nstopped following; job {job_id} keeps running (weightsearch jobs stop {job_id} --address {url})")
            return None
        deadline = time.monotonic() + _STATUS_WAIT_S
        status = client.get_job_status(job_id)
        while not status.is_terminal() and time.monotonic() < deadline:
            time.sleep(0.5)
            status = client.get_job_status(job_id)
    return status


@contextmanager
def _address_variables_unset() -> Iterator[None]:
    """Ray's client lets RAY_ADDRESS override the address it is given; ours was chosen already."""
    saved = {name: os.environ.pop(name) for name in _ADDRESS_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
