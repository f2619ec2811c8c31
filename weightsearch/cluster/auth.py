"""Ray token authentication for the job client, the token found where ``ray.init`` finds it when joining a cluster."""

from __future__ import annotations

import os
from pathlib import Path

from weightsearch.errors import UserError

# Ray's documented token settings (docs.ray.io, "Token authentication").
AUTH_MODE_VARIABLE = "RAY_AUTH_MODE"
TOKEN_VARIABLE = "RAY_AUTH_TOKEN"
TOKEN_PATH_VARIABLE = "RAY_AUTH_TOKEN_PATH"
DEFAULT_TOKEN_FILE = Path("~/.ray/auth_token")


def cluster_headers() -> dict[str, str]:
    """The ``Authorization`` header carrying the cluster's token, for ``JobSubmissionClient(headers=...)``.

    The token is found where Ray 2.60 looks: ``RAY_AUTH_TOKEN``, else the file named by
    ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``; none found, or ``RAY_AUTH_MODE`` set to
    anything but ``token``, is no header. Passed as a header (the job client's public argument),
    not by switching this process into Ray's token mode, which only a private Ray helper does.
    """
    mode = os.environ.get(AUTH_MODE_VARIABLE)
    if mode is not None and mode.lower() != "token":
        return {}
    token = _token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def _token() -> str | None:
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        return token
    token_path = os.environ.get(TOKEN_PATH_VARIABLE)
    if token_path:
        # A named token file that cannot be used is a mistake to report, not a reason to go without.
        path = Path(token_path).expanduser()
        token = _read(path)
        if not token:
            raise UserError(
                f"{TOKEN_PATH_VARIABLE}: {token_path!r} is not a readable, non-empty token file; fix or unset it"
            )
        return token
    return _read(DEFAULT_TOKEN_FILE.expanduser())


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
