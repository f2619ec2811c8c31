"""Passwords out of what the CLI prints: URLs with user info (``scheme://user:password@host``)."""

from __future__ import annotations

import re

# Greedy up to the last '@' before a '/' or a blank, so that an unencoded '@' in a password is masked too.
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]+):[^\s/]+@")


def without_password(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1:***@", text)
