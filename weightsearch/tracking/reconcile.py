"""One reconciliation of a sweep's two stores: every MLflow child run agrees with its Optuna trial.

The Optuna study is the source of truth; MLflow follows it a moment later (the recorder queues, a
thread sends). Three ways leave them apart, and this step repairs all of them:

- Ray's stop-all path (the time budget) never calls the callbacks' ``on_trial_complete``: the trials
  it cuts short are PRUNED in the study, their runs still RUNNING;
- a driver killed between the Optuna tell and the MLflow end (or before the spool got the end)
  leaves a finished trial's run RUNNING, and a resume never runs that trial again;
- a resume puts a report lost with the driver back into the study from the checkpoint, not into MLflow.

Per Optuna trial it compares (and, with ``fix``, makes MLflow say what the study says):

- the child run exists (a finished trial without one gets one, from the study);
- run status and ``weightsearch.trial_state`` = the trial's state: RUNNING only while the trial is;
- ``weightsearch.fail_reason`` / ``weightsearch.stop_reason`` = the trial's reason, ``weightsearch.retries``
  = its retries (no stale reason tag left);
- a COMPLETE trial's objective(s): the run's latest value = the trial's value (a missing one is logged);
- for the trials in ``deep`` and every suspect one (a mismatch above, a run RUNNING in MLflow), the
  first objective's history: exactly one point per step, at the steps of the trial's intermediate values
  (a missing step is logged; a duplicate or a value that differs cannot be undone and is reported).

It runs where every sweep ends (the recorder's ``on_experiment_end``: normal end, time budget, first
Ctrl-C), when a resumed sweep starts (after the spool of the driver before was sent), and outside Ray
through :func:`reconcile_sweep` (a resume with nothing left to run); a second Ctrl-C leaves it to the next resume.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from weightsearch.config import SweepSpec
from weightsearch.contracts import ATTR_FAIL_REASON, ATTR_PARAMS, ATTR_RETRIES, ATTR_STOP_REASON
from weightsearch.redact import without_password
from weightsearch.tracking import names
from weightsearch.tracking.connection import is_remote
from weightsearch.tracking.spool import Spool
from weightsearch.tracking.writer import MlflowWriter

logger = logging.getLogger(__name__)

_PAGE = 1000
_REASON_TAGS = (names.FAIL_REASON, names.STOP_REASON)


@dataclass(frozen=True)
class Mismatch:
    """One thing MLflow said differently from the study about trial ``number`` (``fixed``: MLflow now agrees)."""

    number: int
    field: str  # run, state, status, reason, retries, value, history
    mlflow: str
    optuna: str
    fixed: bool

    def __str__(self) -> str:
        return f"trial {self.number} {self.field}: MLflow {self.mlflow}, Optuna {self.optuna}"


@dataclass
class Reconciliation:
    """What one reconciliation compared and found."""

    trials: int
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def unfixed(self) -> list[Mismatch]:
        return [mismatch for mismatch in self.mismatches if not mismatch.fixed]


def tracking_dir(run_dir: Path) -> Path:
    """Where the recorder keeps its spool, the logged spec and the plots: ``<run dir>/tracking``."""
    return run_dir / "tracking"


def sweep_writer(spec: SweepSpec, sweep_id: str) -> MlflowWriter:
    """The writer of sweep ``spec`` (its tracking URI, experiment, artifact place and spool), not started."""
    return MlflowWriter(
        spec.tracking_uri,
        experiment_name=spec.experiment,
        sweep_name=spec.name,
        sweep_id=sweep_id,
        # A remote server decides where artifacts go; a local store keeps them in the run directory.
        artifact_location=None if is_remote(spec.tracking_uri) else spec.paths.artifact_dir.resolve().as_uri(),
        spool=Spool(tracking_dir(spec.paths.dir) / "spool.jsonl"),
    )


def reconcile(
    study: optuna.Study,
    client: MlflowClient,
    *,
    experiment_id: str,
    parent_run_id: str,
    metrics: Sequence[str],
    deep: Collection[int] | None = None,
    fix: bool = True,
) -> Reconciliation:
    """Compare every trial of ``study`` with its child run under ``parent_run_id`` (see the module docstring).

    ``deep``: the trials whose objective history is compared besides the suspect ones (None: all).
    """
    trials = [trial for trial in study.get_trials(deepcopy=False) if trial.state != TrialState.WAITING]
    runs = _child_runs(client, experiment_id, parent_run_id)
    found = Reconciliation(len(trials))
    for trial in trials:
        run = runs.get(trial.number)
        if run is None:
            if trial.state.is_finished():
                found.mismatches.append(Mismatch(trial.number, "run", "none", trial.state.name, fix))
                if fix:
                    _create_run(client, experiment_id, parent_run_id, trial, metrics)
            continue
        before = len(found.mismatches)
        found.mismatches += _compare_run(client, run, trial, metrics, fix)
        suspect = len(found.mismatches) > before or run.info.status == names.RUN_STATUS["RUNNING"]
        if (deep is None or trial.number in deep or suspect) and len(metrics) == 1:
            found.mismatches += _compare_history(client, run, trial, metrics[0], fix)
    if found.mismatches:
        logger.warning("MLflow disagreed with the Optuna study on %d point(s) of %d trials%s: %s",
                       len(found.mismatches), len(trials), "" if fix else " (not fixed)",
                       "; ".join(str(mismatch) for mismatch in found.mismatches[:5]))
    return found


def reconcile_sweep(spec: SweepSpec, *, timeout_s: float = 30.0, deep: Collection[int] = ()) -> Reconciliation | None:
    """Send what the spool of sweep ``spec`` still holds, then reconcile MLflow with its study; None when
    there is nothing to reconcile (no study, no MLflow record) or MLflow did not answer within ``timeout_s``."""
    try:
        study = optuna.load_study(study_name=spec.name, storage=spec.optuna_url)
    except KeyError:
        return None
    sweep_id = study.user_attrs.get(names.SWEEP_ID)
    if sweep_id is None:
        return None
    writer = sweep_writer(spec, sweep_id)
    writer.start()
    if not writer.close(timeout_s):
        logger.warning("MLflow at %s did not answer: the sweep's runs are reconciled with its study at the next resume",
                       without_password(spec.tracking_uri))
        return None
    client = MlflowClient(spec.tracking_uri)
    experiment = client.get_experiment_by_name(spec.experiment)
    if experiment is None:
        return None
    located = writer.sweep_run()
    if located is None:
        return None
    experiment_id, parent_run_id = located
    return reconcile(study, client, experiment_id=experiment_id, parent_run_id=parent_run_id,
                     metrics=spec.metrics, deep=deep)


def expected_tags(trial: FrozenTrial) -> dict[str, str]:
    """The tags a child run carries for ``trial``: its state, its reason when it has one, its retries when any."""
    tags = {names.TRIAL_STATE: trial.state.name}
    if trial.state == TrialState.FAIL:
        tags[names.FAIL_REASON] = names.reason_value(trial.user_attrs.get(ATTR_FAIL_REASON) or "the trial failed")
    elif trial.state == TrialState.PRUNED and trial.user_attrs.get(ATTR_STOP_REASON):
        tags[names.STOP_REASON] = names.reason_value(trial.user_attrs[ATTR_STOP_REASON])
    if trial.user_attrs.get(ATTR_RETRIES):
        tags[names.RETRIES] = str(trial.user_attrs[ATTR_RETRIES])
    return tags


def _compare_run(client: MlflowClient, run: Run, trial: FrozenTrial, metrics: Sequence[str], fix: bool) -> list[Mismatch]:
    run_id, tags, state = run.info.run_id, run.data.tags, trial.state.name
    found: list[Mismatch] = []
    wanted = expected_tags(trial)
    wrong = {key: value for key, value in wanted.items() if tags.get(key) != value}
    stale = [key for key in _REASON_TAGS if key in tags and key not in wanted]
    for key, value in wrong.items():
        found.append(Mismatch(trial.number, _field(key), str(tags.get(key)), value, fix))
    found += [Mismatch(trial.number, _field(key), tags[key][:80], "none", fix) for key in stale]
    status = names.RUN_STATUS[state]
    if run.info.status != status:
        found.append(Mismatch(trial.number, "status", run.info.status, status, fix))
    if trial.state == TrialState.COMPLETE:
        for metric, value in zip(metrics, trial.values):
            logged = run.data.metrics.get(names.safe_name(metric))
            if logged is None:
                found.append(Mismatch(trial.number, "value", "none", repr(value), fix))
                if fix:
                    _log_points(client, run_id, names.safe_name(metric), {_last_step(trial): value})
            elif not math.isclose(logged, value, rel_tol=1e-6, abs_tol=1e-12):
                found.append(Mismatch(trial.number, "value", repr(logged), repr(value), False))
    if not fix:
        return found
    if wrong:
        client.log_batch(run_id, tags=[RunTag(key, value) for key, value in wrong.items()], synchronous=True)
    for key in stale:
        client.delete_tag(run_id, key)
    if run.info.status != status:
        if state == "RUNNING":
            client.update_run(run_id, status=status)
        else:
            client.set_terminated(run_id, status=status, end_time=_ms(trial.datetime_complete))
    return found


def _compare_history(client: MlflowClient, run: Run, trial: FrozenTrial, metric: str, fix: bool) -> list[Mismatch]:
    """The objective's points per step against the trial's intermediate values."""
    key = names.safe_name(metric)
    per_step: dict[int, list[float]] = {}
    for point in client.get_metric_history(run.info.run_id, key):
        per_step.setdefault(point.step, []).append(point.value)
    found = [Mismatch(trial.number, "history", f"{len(values)} points at step {step}", "1", False)
             for step, values in sorted(per_step.items()) if len(values) > 1]
    missing = {step: value for step, value in trial.intermediate_values.items() if step not in per_step}
    found += [Mismatch(trial.number, "history", f"no point at step {step}", repr(value), fix)
              for step, value in sorted(missing.items())]
    found += [Mismatch(trial.number, "history", f"{values[0]!r} at step {step}", repr(trial.intermediate_values[step]),
                       False)
              for step, values in sorted(per_step.items())
              if step in trial.intermediate_values
              and not math.isclose(values[0], trial.intermediate_values[step], rel_tol=1e-6, abs_tol=1e-12)]
    if fix and missing:
        _log_points(client, run.info.run_id, key, missing)
    return found


def _create_run(
    client: MlflowClient, experiment_id: str, parent_run_id: str, trial: FrozenTrial, metrics: Sequence[str]
) -> None:
    """The child run of a finished trial MLflow never heard of, from what the study holds."""
    tags = {
        names.KIND: names.KIND_TRIAL,
        names.TRIAL_NUMBER: str(trial.number),
        names.PARENT_RUN_ID: parent_run_id,
        names.SWEEP_RUN_ID: parent_run_id,
        **expected_tags(trial),
    }
    run = client.create_run(experiment_id, start_time=_ms(trial.datetime_start), tags=tags, run_name=f"trial-{trial.number}")
    run_id = run.info.run_id
    params = names.as_params(trial.user_attrs.get(ATTR_PARAMS, {}))
    client.log_batch(run_id, params=[Param(key, value) for key, value in params.items()], synchronous=True)
    history = dict(trial.intermediate_values) if len(metrics) == 1 else {}
    if history:
        _log_points(client, run_id, names.safe_name(metrics[0]), history)
    if trial.state == TrialState.COMPLETE and not history:
        for metric, value in zip(metrics, trial.values):
            _log_points(client, run_id, names.safe_name(metric), {_last_step(trial): value})
    client.set_terminated(run_id, status=names.RUN_STATUS[trial.state.name], end_time=_ms(trial.datetime_complete))


def _log_points(client: MlflowClient, run_id: str, key: str, points: dict[int, float]) -> None:
    if points:
        now = _ms(None)
        client.log_batch(run_id, metrics=[Metric(key, float(value), now, int(step)) for step, value in points.items()],
                         synchronous=True)


def _child_runs(client: MlflowClient, experiment_id: str, parent_run_id: str) -> dict[int, Run]:
    """The trial runs under the parent by trial number (the oldest when there are two, as the writer picks)."""
    runs: dict[int, Run] = {}
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{names.PARENT_RUN_ID}` = {names.quote(parent_run_id)} "
            f"and tags.`{names.KIND}` = {names.quote(names.KIND_TRIAL)}",
            order_by=["attributes.start_time ASC"],
            max_results=_PAGE,
            page_token=token,
        )
        for run in page:
            runs.setdefault(int(run.data.tags[names.TRIAL_NUMBER]), run)
        token = page.token
        if not token:
            return runs


def _last_step(trial: FrozenTrial) -> int:
    return max(trial.intermediate_values, default=0)


def _field(tag: str) -> str:
    return {names.TRIAL_STATE: "state", names.RETRIES: "retries"}.get(tag, "reason")


def _ms(moment) -> int:
    return int((moment.timestamp() if moment is not None else time.time()) * 1000)
