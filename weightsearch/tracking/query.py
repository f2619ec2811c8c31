"""Read a recorded sweep back from MLflow: where it is, its best trials, and a summary per strategy.

Everything here reads MLflow's store, never the run directory's Optuna database: ``best`` and ``show``
work from any machine that can reach the tracking server. A local SQLite store is read with the
standard library (:mod:`weightsearch.tracking.sqlite_runs`: no MLflow import, ~3 s less), any other
store, and any ``--filter``, through MLflow's client (:mod:`weightsearch.tracking.mlflow_runs`).

Which tracking URI (``best``/``show`` without ``--tracking-uri``): the run directory of the sweep,
``<storage path>/<name>`` (storage path ``--storage-path``, default ``ws-runs``), holds the resolved
``spec.yaml`` the sweep ran with; its ``tracking.uri`` is used when set, else the run directory's
SQLite store (``mlflow.db``). The experiment is the spec's ``tracking.experiment``, else the sweep name.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from weightsearch.contracts import RunPaths, sqlite_file
from weightsearch.errors import UserError
from weightsearch.pareto import pareto_levels
from weightsearch.redact import without_password
from weightsearch.tracking import names
from weightsearch.tracking.connection import check_tracking_uri
from weightsearch.tracking.sqlite_runs import open_sqlite_runs
from weightsearch.tracking.ui import runs_view_url

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

Objective = tuple[str, str]  # (metric, "minimize" | "maximize")


@dataclass(frozen=True)
class SweepLocation:
    """The tracking URI and MLflow experiment a sweep was recorded in."""

    tracking_uri: str
    experiment: str


class RunSource(Protocol):
    """Where a sweep's runs are read from: MLflow's client (:class:`~weightsearch.tracking.mlflow_runs.MlflowRuns`),
    or, for a local SQLite store, the standard library (:class:`~weightsearch.tracking.sqlite_runs.SqliteRuns`)."""

    def experiment_id(self, name: str) -> str | None: ...

    def latest_sweep(self, experiment_id: str, sweep: str) -> Run | None: ...

    def runs(
        self, experiment_id: str, parent_id: str, *, kind: str, state: str | None, filter_string: str | None
    ) -> list[Run]: ...

    def leading_runs(
        self, experiment_id: str, parent_id: str, objective: Objective, top: int, filter_string: str | None
    ) -> list[Run]: ...

    def load_dict(self, artifact_uri: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RecordedSweep:
    """A sweep's parent run in MLflow, opened for queries (``source``) and writes (``client``)."""

    name: str
    source: RunSource
    location: SweepLocation
    experiment_id: str
    parent: Run

    @cached_property
    def client(self) -> MlflowClient:
        """MLflow's client on the sweep's store, to write to it (reading needs no MLflow: see ``source``)."""
        from mlflow.tracking import MlflowClient

        return MlflowClient(self.location.tracking_uri)

    @property
    def objectives(self) -> list[Objective]:
        recorded = json.loads(self.parent.data.tags.get(names.OBJECTIVES, "[]"))
        return [(entry["metric"], entry["direction"]) for entry in recorded]

    @property
    def url(self) -> str:
        """The sweep's trials in MLflow's UI (for a local store, at `mlflow ui`'s default address)."""
        return runs_view_url(self.location.tracking_uri, self.experiment_id)


@dataclass(frozen=True)
class RankedTrial:
    """One trial's child run with what ``best`` shows of it."""

    trial_number: int
    run_id: str
    state: str
    objectives: dict[str, float]
    params: dict[str, Any]
    config: dict[str, Any] | None

    def as_json(self, objectives: Sequence[Objective]) -> dict[str, Any]:
        first = objectives[0][0]
        return {
            "trial_number": self.trial_number,
            "run_id": self.run_id,
            "state": self.state,
            "objective": {"name": first, "value": self.objectives[first]},
            "objectives": [{"name": metric, "direction": direction, "value": self.objectives[metric]}
                           for metric, direction in objectives],
            "params": self.params,
            "config": self.config,
        }


def locate(name: str, *, tracking_uri: str | None = None, storage_path: str | None = None) -> SweepLocation:
    """Where sweep ``name`` was recorded (see the module docstring for the rule)."""
    paths = RunPaths.of(name, storage_path)
    recorded = _recorded_tracking(paths.spec_file)
    experiment = recorded.get("experiment") or name
    if tracking_uri:
        return SweepLocation(tracking_uri, experiment)
    if recorded.get("uri"):
        return SweepLocation(recorded["uri"], experiment)
    if not (paths.dir / "mlflow.db").exists():
        raise UserError(
            f"sweep {name!r}: no run directory with an MLflow store at {paths.dir}; "
            "pass --storage-path (the sweep's storage path) or --tracking-uri"
        )
    return SweepLocation(paths.tracking_uri, experiment)


def open_sweep(name: str, *, tracking_uri: str | None = None, storage_path: str | None = None) -> RecordedSweep:
    """The parent run of sweep ``name``; :class:`UserError` when MLflow has no such experiment or sweep."""
    location = locate(name, tracking_uri=tracking_uri, storage_path=storage_path)
    check_tracking_uri(location.tracking_uri)
    source = _source(location.tracking_uri)
    shown_uri = without_password(location.tracking_uri)
    experiment_id = source.experiment_id(location.experiment)
    if experiment_id is None:
        raise UserError(
            f"sweep {name!r}: no MLflow experiment {location.experiment!r} at {shown_uri}; "
            "check the name, or pass the --tracking-uri it was recorded at"
        )
    parent = source.latest_sweep(experiment_id, name)  # the latest sweep of that name
    if parent is None:
        raise UserError(
            f"sweep {name!r}: MLflow experiment {location.experiment!r} at {shown_uri} has no sweep of that name; "
            "check the name"
        )
    return RecordedSweep(name, source, location, experiment_id, parent)


def _source(tracking_uri: str) -> RunSource:
    """The standard-library reader for a local SQLite store it knows, else MLflow's client.

    A SQLite file that is not there is an error, not an empty store: MLflow would create one.
    """
    path = sqlite_file(tracking_uri)
    if path is not None and not path.is_file():
        raise UserError(f"--tracking-uri {tracking_uri}: no MLflow store at {path}; "
                        "pass the URI the sweep was recorded at")
    sqlite = open_sqlite_runs(tracking_uri)
    if sqlite is not None:
        return sqlite
    from weightsearch.tracking.mlflow_runs import MlflowRuns

    return MlflowRuns(tracking_uri)


def read_confirmation(sweep: RecordedSweep) -> dict[str, Any] | None:
    """The latest confirmation report of ``sweep`` (see ``weightsearch confirm``), or None when there is none."""
    artifact = sweep.parent.data.tags.get(names.CONFIRMATION)
    if artifact is None:
        return None
    return sweep.source.load_dict(f"{sweep.parent.info.artifact_uri.rstrip('/')}/{artifact}")


def trial_runs(
    sweep: RecordedSweep, *, state: str | None = None, filter_string: str | None = None, kind: str = names.KIND_TRIAL
) -> list[Run]:
    """Every trial run of ``sweep`` (or its runs of another ``kind``, e.g. confirmation runs), optionally
    in one ``state`` and matching an MLflow ``filter_string``."""
    return sweep.source.runs(
        sweep.experiment_id, sweep.parent.info.run_id, kind=kind, state=state, filter_string=filter_string
    )


def rank(runs: Sequence[Run], objectives: Sequence[Objective]) -> list[RankedTrial]:
    """Runs best first by the objective, ties broken by Optuna trial number (deterministic, unlike ray#47358).

    With several objectives: non-dominated runs first (Pareto rank), then by the first objective.
    Runs without a finite value for every objective cannot be ranked and are left out.
    """
    trials = [trial for trial in (_ranked_trial(run, objectives) for run in runs) if trial is not None]
    signs = [1.0 if direction == "minimize" else -1.0 for _, direction in objectives]
    costs = {trial.run_id: [sign * trial.objectives[metric] for sign, (metric, _) in zip(signs, objectives)]
             for trial in trials}
    levels = pareto_levels(costs) if len(objectives) > 1 else dict.fromkeys(costs, 0)
    return sorted(trials, key=lambda trial: (levels[trial.run_id], costs[trial.run_id][0], trial.trial_number))


def best_trials(sweep: RecordedSweep, *, top: int, filter_string: str | None = None) -> list[RankedTrial]:
    """The ``top`` best COMPLETE trials of ``sweep`` (after ``filter_string``)."""
    if top < 1:
        raise UserError(f"--top must be at least 1 (got {top})")
    objectives = sweep.objectives
    if len(objectives) > 1:  # a Pareto rank needs every run
        return rank(trial_runs(sweep, state="COMPLETE", filter_string=filter_string), objectives)[:top]
    leading = sweep.source.leading_runs(sweep.experiment_id, sweep.parent.info.run_id, objectives[0], top, filter_string)
    return rank(leading, objectives)[:top]


@dataclass(frozen=True)
class StrategySummary:
    """How one weighting strategy did: COMPLETE trials, and their best and median objective."""

    strategy: str
    trials: int
    complete: int
    best: float | None
    median: float | None


def state_counts(runs: Sequence[Run]) -> dict[str, int]:
    counts = dict.fromkeys(names.TRIAL_STATES, 0)
    for run in runs:
        state = run.data.tags.get(names.TRIAL_STATE, "RUNNING")
        counts[state] = counts.get(state, 0) + 1
    return counts


def strategy_summaries(runs: Sequence[Run], objective: Objective) -> list[StrategySummary]:
    """Per strategy (its ``strategy`` param): trials, COMPLETE ones, best and median objective; best strategy first."""
    metric, direction = objective
    by_strategy: dict[str, list[Run]] = {}
    for run in runs:
        by_strategy.setdefault(run.data.params.get("strategy", "?"), []).append(run)
    summaries = []
    for strategy, group in by_strategy.items():
        values = [
            run.data.metrics[metric]
            for run in group
            if run.data.tags.get(names.TRIAL_STATE) == "COMPLETE" and math.isfinite(run.data.metrics.get(metric, math.nan))
        ]
        best = (min(values) if direction == "minimize" else max(values)) if values else None
        summaries.append(
            StrategySummary(strategy, len(group), len(values), best, statistics.median(values) if values else None)
        )
    sign = 1.0 if direction == "minimize" else -1.0
    return sorted(summaries, key=lambda s: (s.best is None, sign * (s.best or 0.0), s.strategy))


def _ranked_trial(run: Run, objectives: Sequence[Objective]) -> RankedTrial | None:
    values = {metric: run.data.metrics.get(metric, math.nan) for metric, _ in objectives}
    if not all(math.isfinite(value) for value in values.values()):
        return None
    config = json.loads(run.data.tags[names.TRIAL_CONFIG]) if names.TRIAL_CONFIG in run.data.tags else None
    searched = json.loads(run.data.tags.get(names.SEARCHED, "[]"))
    typed = names.flatten(config) if config is not None else {}
    params = {name: typed.get(name, run.data.params.get(names.safe_name(name))) for name in searched}
    return RankedTrial(
        trial_number=int(run.data.tags[names.TRIAL_NUMBER]),
        run_id=run.info.run_id,
        state=run.data.tags.get(names.TRIAL_STATE, "RUNNING"),
        objectives=values,
        params=params,
        config=config,
    )


def _recorded_tracking(spec_file: Path) -> dict[str, Any]:
    """The ``tracking`` section of the resolved spec the sweep ran with (empty when there is none)."""
    if not spec_file.is_file():
        return {}
    data = yaml.safe_load(spec_file.read_text()) or {}
    return data.get("tracking") or {}
