"""Read a recorded sweep back from MLflow: where it is, its best trials, and a summary per strategy.

Everything here reads MLflow, never the run directory's Optuna database: ``best`` and ``show`` work
from any machine that can reach the tracking server.

Which tracking URI (``best``/``show`` without ``--tracking-uri``): the run directory of the sweep,
``<storage path>/<name>`` (storage path ``--storage-path``, default ``ws-runs``), holds the resolved
``spec.yaml`` the sweep ran with; its ``tracking.uri`` is used when set, else the run directory's
SQLite store (``mlflow.db``). The experiment is the spec's ``tracking.experiment``, else the sweep name.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mlflow.artifacts import load_dict
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList
from mlflow.tracking import MlflowClient

from weightsearch.contracts import RunPaths
from weightsearch.errors import UserError
from weightsearch.pareto import pareto_levels
from weightsearch.redact import without_password
from weightsearch.tracking import names
from weightsearch.tracking.connection import check_tracking_uri
from weightsearch.tracking.ui import runs_view_url

Objective = tuple[str, str]  # (metric, "minimize" | "maximize")


@dataclass(frozen=True)
class SweepLocation:
    """The tracking URI and MLflow experiment a sweep was recorded in."""

    tracking_uri: str
    experiment: str


@dataclass(frozen=True)
class RecordedSweep:
    """A sweep's parent run in MLflow, opened for queries."""

    name: str
    client: MlflowClient
    location: SweepLocation
    experiment_id: str
    parent: Run

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
    client = MlflowClient(location.tracking_uri)
    shown_uri = without_password(location.tracking_uri)
    experiment = client.get_experiment_by_name(location.experiment)
    if experiment is None:
        raise UserError(
            f"sweep {name!r}: no MLflow experiment {location.experiment!r} at {shown_uri}; "
            "check the name, or pass the --tracking-uri it was recorded at"
        )
    parents = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{names.KIND}` = 'sweep' and tags.`{names.SWEEP}` = {names.quote(name)}",
        order_by=["attributes.start_time DESC"],  # the latest sweep of that name
        max_results=1,
    )
    if not parents:
        raise UserError(
            f"sweep {name!r}: MLflow experiment {location.experiment!r} at {shown_uri} has no sweep of that name; "
            "check the name"
        )
    return RecordedSweep(name, client, location, experiment.experiment_id, parents[0])


def read_confirmation(sweep: RecordedSweep) -> dict[str, Any] | None:
    """The latest confirmation report of ``sweep`` (see ``weightsearch confirm``), or None when there is none."""
    artifact = sweep.parent.data.tags.get(names.CONFIRMATION)
    if artifact is None:
        return None
    return load_dict(f"{sweep.parent.info.artifact_uri.rstrip('/')}/{artifact}")


def trial_runs(
    sweep: RecordedSweep, *, state: str | None = None, filter_string: str | None = None, kind: str = names.KIND_TRIAL
) -> list[Run]:
    """Every trial run of ``sweep`` (or its runs of another ``kind``, e.g. confirmation runs), optionally
    in one ``state`` and matching an MLflow ``filter_string``."""
    pages = _run_pages(sweep, state=state, filter_string=filter_string, kind=kind)
    return [run for page in pages for run in page]


def _run_pages(
    sweep: RecordedSweep,
    *,
    state: str | None = None,
    filter_string: str | None = None,
    bound: str | None = None,
    page_size: int = 1000,
    kind: str = names.KIND_TRIAL,
) -> Iterator[PagedList[Run]]:
    """The child runs of ``sweep`` a page at a time, as :func:`trial_runs` selects them, and within ``bound`` if given."""
    clauses = [
        f"tags.`{names.PARENT_RUN_ID}` = {names.quote(sweep.parent.info.run_id)}",
        f"tags.`{names.KIND}` = {names.quote(kind)}",
    ]
    if state is not None:
        clauses.append(f"tags.`{names.TRIAL_STATE}` = {names.quote(state)}")
    clauses += [clause for clause in (filter_string, bound) if clause]
    page_token = None
    while True:
        try:
            page = sweep.client.search_runs(
                [sweep.experiment_id], filter_string=" and ".join(clauses), max_results=page_size, page_token=page_token
            )
        except MlflowException as error:
            if filter_string:
                raise UserError(
                    f"--filter {filter_string!r} is not a valid MLflow filter ({str(error).splitlines()[0]}); "
                    """write e.g. "params.strategy = 'gradnorm'" """.strip()
                ) from None
            raise
        yield page
        page_token = page.token
        if not page_token:
            return


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
    return rank(_leading_runs(sweep, objectives[0], top, filter_string), objectives)[:top]


def _leading_runs(sweep: RecordedSweep, objective: Objective, top: int, filter_string: str | None) -> list[Run]:
    """COMPLETE runs among which are the ``top`` best by ``objective`` and every run tied with the ``top``-th.

    Reading every run of a 10,000-trial sweep takes seconds, and so does MLflow's own sort on
    SQLite (its ORDER BY on a metric joins an unindexed subquery: quadratic). A threshold is cheap
    to filter on instead: the ``top``-th best value among any runs bounds the ``top``-th best of
    all, so the runs at least that good are read again, one page a time, until they fit in a page.
    """
    metric, direction = objective
    sign, comparison = (1.0, "<=") if direction == "minimize" else (-1.0, ">=")
    bound = None
    while True:
        # A few more runs a page than asked, so that each page narrows the threshold several-fold.
        page = next(_run_pages(sweep, state="COMPLETE", filter_string=filter_string, bound=bound, page_size=top + 20))
        if not page.token:
            return list(page)
        costs = sorted(sign * value for value in (run.data.metrics.get(metric, math.nan) for run in page)
                       if math.isfinite(value))
        narrower = _bound(metric, comparison, sign * costs[top - 1]) if len(costs) >= top else None
        if narrower in (None, bound):  # too few values, or every run ties: read every run left
            return [run for page in _run_pages(sweep, state="COMPLETE", filter_string=filter_string, bound=bound)
                    for run in page]
        bound = narrower


def _bound(metric: str, comparison: str, value: float) -> str:
    """The filter clause ``metric <comparison> value``; repr round-trips the float, MLflow's parser takes no "e+"."""
    return f"metrics.`{metric}` {comparison} {repr(value).replace('e+', 'e')}"


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
