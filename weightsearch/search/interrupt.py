"""A driver's graceful stop (the first Ctrl-C or SIGTERM): no trial is launched any more, the running ones stop now.

Signals reach a whole process, and so does this request: the command line's signal handler makes it,
and every Tuner of the process (search, resume, confirmation) reads it through :class:`InterruptStopper`.
Ray Tune's stop-all path ends the running trials at once without telling the searcher or the scheduler,
so they stay RUNNING in the study and a resume continues them from their last checkpoint.
"""

from __future__ import annotations

import threading
from typing import Any

from ray.tune import Stopper

_requested = threading.Event()


def request_stop() -> None:
    """Ask every running and future sweep of this process to stop (the first Ctrl-C or SIGTERM)."""
    _requested.set()


def stop_requested() -> bool:
    return _requested.is_set()


class InterruptStopper(Stopper):
    """Stops the whole experiment once :func:`request_stop` was called; never a single trial."""

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return _requested.is_set()
