"""The Ray dashboard address a job command talks to: ``--address`` or ``RAY_ADDRESS``, checked fast."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from weightsearch.errors import UserError

DASHBOARD_PORT = 8265
# Long enough for a far-away head, short enough that a typo fails before the user wonders.
CONNECT_TIMEOUT_S = 5.0


def dashboard_url(address: str | None) -> str:
    """``http(s)://host:port`` of the Ray dashboard from ``address``, else ``$RAY_ADDRESS``; UserError if neither works."""
    source = "--address"
    if not address:
        address, source = os.environ.get("RAY_ADDRESS", ""), "RAY_ADDRESS"
    if not address:
        raise UserError(
            f"--address: no Ray cluster given; pass --address http://HEAD:{DASHBOARD_PORT} (the head's dashboard) "
            "or set RAY_ADDRESS"
        )
    url = address.rstrip("/") if "://" in address else f"http://{address.rstrip('/')}"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or parts.path or parts.query:
        raise UserError(
            f"{source}: {address!r} is not the Ray dashboard's address; write http://HEAD:{DASHBOARD_PORT}"
        )
    if parts.port is None:
        url = f"{url}:{DASHBOARD_PORT}" if parts.scheme == "http" else url
    return url


def check_reachable(url: str) -> None:
    """Fail in seconds when nothing listens at ``url`` (HTTP clients would wait minutes on a dead host)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else DASHBOARD_PORT)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise UserError(
            f"--address: no Ray dashboard answers at {url} ({reason}); start the cluster, forward its port "
            f"{DASHBOARD_PORT}, or fix the address"
        ) from None
