"""A sweep's runs read straight from MLflow's SQLite store with the standard library: `best` and `show` answer
without importing MLflow.

Importing MLflow and opening its SQLAlchemy store costs ~3 s of a 3.5 s `best` on a 2-core machine; the few
queries below take milliseconds. MLflow's table layout is private to it, so it is read here only when the
file's Alembic revision is one this reader was checked against (:data:`KNOWN_REVISIONS`), read-only, and
only for what needs no MLflow: a search ``--filter`` (MLflow's own grammar) and artifacts outside the local
file system go to :class:`~weightsearch.tracking.mlflow_runs.MlflowRuns`. Runs come back with the attribute
paths of MLflow's ``Run`` (``run.info.run_id``, ``run.data.tags``…), so ranking code takes either;
``tests/tracking/test_sqlite_runs.py`` checks, on stores written by the installed MLflow, that both read alike.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from weightsearch.contracts import sqlite_file
from weightsearch.tracking import names

if TYPE_CHECKING:
    from weightsearch.tracking.mlflow_runs import MlflowRuns

#: Alembic revisions of MLflow's tracking schema with the tables and columns read below (MLflow 3.17).
KNOWN_REVISIONS = frozenset({"dc11669786a5"})
_CHUNK = 500  # run ids per IN (...) clause, well under SQLite's bound on query variables


@dataclass(frozen=True)
class StoredRunInfo:
    run_id: str
    status: str
    artifact_uri: str
    start_time: int | None


@dataclass(frozen=True)
class StoredRunData:
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRun:
    """One run as MLflow's ``Run`` presents it: ``info`` and ``data`` (latest metric values, as MLflow reports them)."""

    info: StoredRunInfo
    data: StoredRunData


def open_sqlite_runs(tracking_uri: str) -> SqliteRuns | None:
    """A reader of the SQLite store at ``tracking_uri``, or None when this reader cannot vouch for it (MLflow reads it)."""
    path = sqlite_file(tracking_uri)
    if path is None or not path.is_file():
        return None
    if os.environ.get("MLFLOW_ENABLE_WORKSPACES", "").lower() in ("1", "true"):
        return None  # experiments scoped by workspace: MLflow's store filters them
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        revisions = {row[0] for row in connection.execute("SELECT version_num FROM alembic_version")}
    except sqlite3.Error:
        return None
    if not revisions or not revisions <= KNOWN_REVISIONS:
        connection.close()
        return None
    return SqliteRuns(tracking_uri, connection)


class SqliteRuns:
    """Experiments and runs of one MLflow SQLite store, read-only (what `best` and `show` read)."""

    def __init__(self, tracking_uri: str, connection: sqlite3.Connection) -> None:
        self.tracking_uri = tracking_uri
        self._db = connection

    @cached_property
    def _mlflow(self) -> MlflowRuns:
        """MLflow's own client on the same store, for what only MLflow can do (filters, remote artifacts)."""
        from weightsearch.tracking.mlflow_runs import MlflowRuns

        return MlflowRuns(self.tracking_uri)

    def experiment_id(self, name: str) -> str | None:
        found = self._db.execute("SELECT experiment_id FROM experiments WHERE name = ?", (name,)).fetchone()
        return None if found is None else str(found[0])

    def latest_sweep(self, experiment_id: str, sweep: str) -> StoredRun | None:
        """The most recently started parent run of sweep ``sweep``."""
        ids = self._tagged(experiment_id, {names.KIND: names.KIND_SWEEP, names.SWEEP: sweep})
        return next(iter(self._runs(ids[:1])), None)

    def runs(
        self, experiment_id: str, parent_id: str, *, kind: str, state: str | None, filter_string: str | None
    ) -> list[StoredRun]:
        """The child runs of ``parent_id`` of ``kind`` (in ``state``), latest first, as MLflow's search orders them."""
        if filter_string:
            return self._mlflow.runs(experiment_id, parent_id, kind=kind, state=state, filter_string=filter_string)
        return self._runs(self._tagged(experiment_id, _child_tags(parent_id, kind, state)))

    def leading_runs(
        self, experiment_id: str, parent_id: str, objective: tuple[str, str], top: int, filter_string: str | None
    ) -> list[StoredRun]:
        """COMPLETE trial runs among which are the ``top`` best by ``objective``, with every run tied with the ``top``-th."""
        if filter_string:
            return self._mlflow.leading_runs(experiment_id, parent_id, objective, top, filter_string)
        metric, direction = objective
        ids = self._tagged(experiment_id, _child_tags(parent_id, names.KIND_TRIAL, "COMPLETE"))
        values: list[tuple[float, str]] = []
        for chunk in _chunks(ids):
            values += [(value, run_id) for run_id, value in self._db.execute(
                f"SELECT run_uuid, value FROM latest_metrics WHERE key = ? AND is_nan = 0 "
                f"AND run_uuid IN ({_marks(chunk)})", (metric, *chunk))]
        sign = 1.0 if direction == "minimize" else -1.0
        costs = sorted(sign * value for value, _ in values if math.isfinite(value))
        if len(costs) <= top:
            return self._runs(ids)
        worst = costs[top - 1]
        return self._runs([run_id for value, run_id in values if sign * value <= worst])

    def load_dict(self, artifact_uri: str) -> dict[str, Any]:
        """A JSON artifact: read from disk when it is a local file, else by MLflow."""
        parsed = urlparse(artifact_uri)
        if parsed.scheme in ("", "file"):
            return json.loads(Path(unquote(parsed.path) if parsed.scheme else artifact_uri).read_text())
        return self._mlflow.load_dict(artifact_uri)

    def _tagged(self, experiment_id: str, tags: dict[str, str]) -> list[str]:
        """Ids of the active runs of the experiment with every tag of ``tags``, latest start first (MLflow's order)."""
        joins = "".join(f" JOIN tags t{i} ON t{i}.run_uuid = r.run_uuid AND t{i}.key = ? AND t{i}.value = ?"
                        for i in range(len(tags)))
        rows = self._db.execute(
            f"SELECT r.run_uuid FROM runs r{joins} WHERE r.experiment_id = ? AND r.lifecycle_stage = 'active' "
            "ORDER BY r.start_time DESC, r.run_uuid",
            (*(part for item in tags.items() for part in item), int(experiment_id)),
        )
        return [row[0] for row in rows]

    def _runs(self, ids: Sequence[str]) -> list[StoredRun]:
        """Runs ``ids`` with their tags, params and latest metrics, in the order of ``ids``."""
        info: dict[str, StoredRunInfo] = {}
        data: dict[str, StoredRunData] = {}
        for chunk in _chunks(ids):
            marks = _marks(chunk)
            for run_id, status, artifact_uri, start_time in self._db.execute(
                f"SELECT run_uuid, status, artifact_uri, start_time FROM runs WHERE run_uuid IN ({marks})", chunk
            ):
                info[run_id] = StoredRunInfo(run_id, status, artifact_uri, start_time)
                data[run_id] = StoredRunData()
            for table, target in (("tags", "tags"), ("params", "params")):
                for run_id, key, value in self._db.execute(
                    f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks})", chunk
                ):
                    getattr(data[run_id], target)[key] = value
            for run_id, key, value, is_nan in self._db.execute(
                f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({marks})", chunk
            ):
                data[run_id].metrics[key] = math.nan if is_nan else float(value)
        return [StoredRun(info[run_id], data[run_id]) for run_id in ids if run_id in info]


def _child_tags(parent_id: str, kind: str, state: str | None) -> dict[str, str]:
    tags = {names.PARENT_RUN_ID: parent_id, names.KIND: kind}
    if state is not None:
        tags[names.TRIAL_STATE] = state
    return tags


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    return (ids[start:start + _CHUNK] for start in range(0, len(ids), _CHUNK))


def _marks(chunk: Sequence[str]) -> str:
    return ", ".join("?" * len(chunk))
