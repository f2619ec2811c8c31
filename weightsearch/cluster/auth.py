"""Ray token authentication for the job client, found the way ``ray.init`` finds it when joining a cluster."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from weightsearch.errors import UserError


def use_cluster_token() -> None:
    """Send the cluster's auth token with every job request when one is configured.

    Ray 2.60 reads the token from ``RAY_AUTH_TOKEN``, else the file named by ``RAY_AUTH_TOKEN_PATH``,
    else ``~/.ray/auth_token``. ``RAY_AUTH_MODE=token`` makes it mandatory; with the mode unset a
    token found in those places is used, as ``ray.init`` does for a client joining a cluster.
    """
    token_path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if token_path and not os.environ.get("RAY_AUTH_TOKEN"):
        # Ray's token loader aborts the whole process on an unreadable or empty token file.
        path = Path(token_path).expanduser()
        if not path.is_file() or not path.read_text().strip():
            raise UserError(f"RAY_AUTH_TOKEN_PATH: {token_path!r} is not a readable, non-empty token file; fix or unset it")
    # The job SDK adds the Authorization header only when this process is in token mode; this private
    # helper of Ray 2.60 is the step ray.init takes to enter it when a token exists and the mode is unset.
    from ray._private.authentication import authentication_token_setup as token_setup

    # Its warning addresses whoever starts a cluster ("set RAY_AUTH_MODE=disabled to opt out"), not a client.
    logger = logging.getLogger(token_setup.__name__)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        token_setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    finally:
        logger.setLevel(level)
