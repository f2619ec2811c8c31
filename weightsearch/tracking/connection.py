"""Is the MLflow tracking store there? A fast answer, before a sweep creates anything and during an outage."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from weightsearch.errors import UserError
from weightsearch.redact import without_password

# The cheapest authenticated call of MLflow's documented REST API: it proves the server runs, speaks
# MLflow and accepts our credentials (MLflow reads MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN itself).
PROBE_ENDPOINT = "/api/2.0/mlflow/experiments/search"
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")]*")


def is_remote(tracking_uri: str) -> bool:
    return urlparse(tracking_uri).scheme in ("http", "https")


def probe(tracking_uri: str, timeout_s: float = 5.0) -> str | None:
    """``None`` when the tracking store answers, else one line saying why not.

    MLflow's own client retries a failed request for minutes (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``);
    this probe tries once with a short timeout, so a sweep fails fast and an outage is detected fast.
    """
    if not is_remote(tracking_uri):
        from mlflow.tracking import MlflowClient

        try:
            MlflowClient(tracking_uri).search_experiments(max_results=1)
        except Exception as error:  # a local store fails with whatever its backend raises
            return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        return None
    try:
        response = request_once(tracking_uri, PROBE_ENDPOINT, {"max_results": 1}, timeout_s)
    except Exception as error:  # requests/urllib3 errors arrive wrapped in MlflowException
        found = _ERRNO.search(str(error))
        return found.group(0).strip() if found else type(error).__name__
    if response.status_code in (401, 403):
        return f"HTTP {response.status_code} (credentials rejected)"
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    return None


def request_once(tracking_uri: str, endpoint: str, body: dict[str, Any], timeout_s: float) -> Any:
    """POST ``body`` to ``endpoint`` of the tracking server once, with MLflow's own credentials and headers.

    Not a public API, on purpose: ``MlflowClient`` offers no per-call retry count or timeout (only
    the process-wide ``MLFLOW_HTTP_REQUEST_*`` variables, which the writer thread would share), and
    a hand-made request would miss how MLflow resolves credentials (basic auth, token, TLS options,
    auth plugins). So this calls ``mlflow.utils.rest_utils.http_request`` with
    ``mlflow.utils.credentials.get_default_host_creds``; tests/test_private_apis.py fails on an
    MLflow upgrade that changes either.
    """
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    return http_request(
        get_default_host_creds(tracking_uri),
        endpoint,
        "POST",
        json=body,
        max_retries=0,
        timeout=timeout_s,
        retry_timeout_seconds=1,
    )


def check_tracking_uri(tracking_uri: str) -> None:
    """Raise :class:`UserError` (one line) unless the MLflow tracking server at ``tracking_uri`` answers.

    Meant to be called before a sweep creates anything. Local stores (SQLite, files) are created on
    demand and are not probed.
    """
    if not is_remote(tracking_uri):
        return
    problem = probe(tracking_uri)
    if problem is None:
        return
    shown = without_password(tracking_uri)
    if "credentials rejected" in problem:
        raise UserError(
            f"MLflow tracking server at {shown} refused the request: {problem}; "
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"
        )
    raise UserError(
        f"MLflow tracking server at {shown} is unreachable: {problem}; start it or pass --tracking-uri"
    )
