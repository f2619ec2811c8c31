"""What every Ray worker of a sweep runs first (Ray's ``worker_process_setup_hook``): a quiet shutdown."""

from __future__ import annotations

import sys
from typing import Any

#: The hook as Ray's runtime environment names it: imported by each worker process when it starts.
WORKER_SETUP_HOOK = f"{__name__}.quiet_shutdown"


def ignore_shutdown_exit(unraisable: Any) -> None:
    """``sys.unraisablehook`` of a worker: drop the SystemExit of Ray's shutdown, pass anything else on.

    Ray ends a worker by SIGTERM, which its handler turns into SystemExit; when the signal lands in a
    weakref or GC callback, Python cannot raise it and prints "Exception ignored in … SystemExit: 1" with a
    traceback on the worker's stderr, which Ray copies into the driver's terminal (the sweep's progress table).
    """
    if not issubclass(unraisable.exc_type, SystemExit):
        sys.__unraisablehook__(unraisable)


def quiet_shutdown() -> None:
    """Install :func:`ignore_shutdown_exit` from the worker's start, before any trial (or idle GC) can meet the signal."""
    sys.unraisablehook = ignore_shutdown_exit
