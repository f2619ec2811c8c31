"""A local write-ahead log of MLflow operations, so nothing is lost while the server is away or if the driver dies.

Every operation is appended here before it is sent; the file is removed whenever everything sent so
far has been confirmed. What remains after a crash or an outage is replayed, in order, by the next
recorder that opens the same file (a resumed sweep). Operations are idempotent (runs are found by
tag before being created), so replaying one that did reach MLflow does no harm.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

Operation = dict[str, Any]


class Spool:
    """Append-only JSON-lines file of operations not yet confirmed by MLflow."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> list[Operation]:
        """The operations left by an earlier recorder; a line cut short by a crash is skipped."""
        if not self.path.exists():
            return []
        operations = []
        for number, line in enumerate(self.path.read_text().splitlines(), start=1):
            try:
                operations.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning("skipping unreadable line %d of the MLflow spool %s", number, self.path)
        return operations

    def append(self, operation: Operation) -> None:
        with self.path.open("a") as spool_file:
            spool_file.write(json.dumps(operation) + "\n")

    def clear(self) -> None:
        """Everything was confirmed: the file goes (a run directory keeps no empty spool)."""
        self.path.unlink(missing_ok=True)
