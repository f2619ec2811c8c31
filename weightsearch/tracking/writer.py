"""Sends a sweep's MLflow operations from a background thread, so that MLflow never slows or stops training.

The driver thread only appends an operation to the spool and a queue. This thread applies them in
order with :class:`MlflowClient` (explicit run ids; never MLflow's global active run, which other
callbacks in the same process may use). When MLflow is unreachable it keeps the operations, probes
every ``retry_interval_s`` seconds and sends them once the server is back.

Operations are plain JSON dicts, ``{"op": ..., "time": <ms>, ...}``:
``sweep_start`` (params, tags, artifacts of the parent run), ``trial_start`` (number, params, tags),
``metrics`` (number, step, metrics), ``trial_tags`` (number, tags), ``trial_end`` (number, state, reason),
``sweep_end`` (metrics, tags, best_number) and ``artifacts`` (files of the parent run).

A run gets one point per metric and step: a trial continued from an older checkpoint (a resume, a
retry by Ray) reports the steps since that checkpoint again, and a spool replayed after a crash may
hold operations MLflow already took; a ``metrics`` operation at a step the run has is skipped (the
first value stays, as in the Optuna study).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from mlflow.entities import LifecycleStage, Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from weightsearch.redact import without_password
from weightsearch.tracking import names
from weightsearch.tracking.connection import probe
from weightsearch.tracking.spool import Operation, Spool

logger = logging.getLogger(__name__)

_STOP = object()
_RUNNING = RunStatus.to_string(RunStatus.RUNNING)


class MlflowWriter:
    """Applies spooled operations to one sweep's parent and child runs, surviving MLflow outages."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        experiment_name: str,
        sweep_name: str,
        sweep_id: str,
        artifact_location: str | None,
        spool: Spool,
        retry_interval_s: float = 2.0,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.spool = spool
        # Made by the thread on first use: a SQLite store migrates its schema on creation (seconds).
        self._mlflow: MlflowClient | None = None
        self._experiment_name = experiment_name
        self._sweep_name = sweep_name
        self._sweep_id = sweep_id
        self._artifact_location = artifact_location
        self._retry_interval_s = retry_interval_s
        self._queue: queue.Queue[Any] = queue.Queue()
        self._pending: deque[Operation] = deque()
        self._settled = threading.Condition()
        self._outstanding = 0
        self._reachable = True
        self._experiment_id: str | None = None
        self._parent_run_id: str | None = None
        self._trial_runs: dict[int, str] = {}
        # Per trial run: the steps it has metrics at (read from MLflow for a run an earlier driver made).
        self._logged_steps: dict[str, set[int]] = {}
        self._thread = threading.Thread(target=self._run, name="weightsearch-mlflow", daemon=True)

    # --- driver side -------------------------------------------------------------------------

    def start(self) -> None:
        """Queue what an earlier recorder left in the spool, then start sending."""
        leftovers = self.spool.read()
        if leftovers:
            logger.warning("sending %d MLflow operations kept in %s by an earlier run", len(leftovers), self.spool.path)
        with self._settled:
            self._outstanding += len(leftovers)
        for operation in leftovers:
            self._queue.put(operation)
        self._thread.start()

    def submit(self, operation: Operation) -> None:
        with self._settled:
            self.spool.append(operation)
            self._outstanding += 1
            self._queue.put(operation)

    def flush(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until every operation submitted so far reached MLflow; ``True`` if they all did."""
        with self._settled:
            return self._settled.wait_for(lambda: self._outstanding == 0, timeout=timeout_s)

    def close(self, timeout_s: float) -> bool:
        """Flush, then stop the thread; what could not be sent stays in the spool. ``True`` if all was sent."""
        sent = self.flush(timeout_s)
        self._queue.put(_STOP)
        if sent:
            self._thread.join(timeout=timeout_s)
        return sent

    @property
    def parent_run_id(self) -> str | None:
        return self._parent_run_id

    def sweep_run(self) -> tuple[str, str] | None:
        """(experiment id, parent run id) of the sweep, found in MLflow by its sweep id; None without a parent run.

        Call it when the writer thread is idle (after :meth:`flush` or :meth:`close`).
        """
        parent = self._find_parent()
        return None if parent is None else (self._experiment(), parent)

    # --- writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._retry_interval_s if self._pending else None)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if item is not None:
                self._pending.append(item)
            try:
                self._drain()
            except Exception:  # e.g. the spool's disk is full: keep the thread alive, retry on the next wake-up
                logger.exception("MLflow writer error; retrying")

    def _drain(self) -> None:
        while self._pending:
            if not self._reachable:
                if probe(self.tracking_uri) is not None:
                    return
                self._reachable = True
                logger.warning("MLflow at %s is reachable again: sending %d kept operations",
                               without_password(self.tracking_uri), self._outstanding)
            operation = self._pending[0]
            try:
                self._apply(operation)
            except Exception:
                problem = probe(self.tracking_uri)
                if problem is not None:
                    self._reachable = False
                    logger.warning(
                        "MLflow at %s is unreachable (%s): training goes on; operations are kept in %s "
                        "and sent when it is back",
                        without_password(self.tracking_uri), problem, self.spool.path,
                    )
                    return
                self._retry_or_reject(operation)
            self._pending.popleft()
            with self._settled:
                self._outstanding -= 1
                if self._outstanding == 0:
                    self.spool.clear()
                    self._settled.notify_all()

    def _retry_or_reject(self, operation: Operation) -> None:
        # The server answers, so either a passing glitch or MLflow refuses this operation: one more
        # attempt tells them apart; a refused one is kept beside the spool, never silently dropped.
        try:
            self._apply(operation)
        except Exception as error:
            rejected = Spool(self.spool.path.with_suffix(".rejected.jsonl"))
            rejected.append(operation)
            logger.warning("MLflow refused %s (%s); kept in %s", describe(operation), error, rejected.path)

    @property
    def _client(self) -> MlflowClient:
        if self._mlflow is None:
            self._mlflow = MlflowClient(self.tracking_uri)
        return self._mlflow

    def _apply(self, operation: Operation) -> None:
        kind = operation["op"]
        if kind == "sweep_start":
            self._start_sweep(operation)
        elif kind == "trial_start":
            self._start_trial(operation)
        elif kind == "metrics":
            self._log_step(self._trial_run(operation["number"]), operation)
        elif kind == "trial_tags":
            self._log(self._trial_run(operation["number"]), tags=operation["tags"])
        elif kind == "trial_end":
            self._end_trial(operation)
        elif kind == "sweep_end":
            self._end_sweep(operation)
        elif kind == "artifacts":
            for local_path, artifact_path in operation["files"]:
                self._client.log_artifact(self._parent(), local_path, artifact_path)
        else:
            raise ValueError(f"unknown MLflow operation {kind!r}")

    def _start_sweep(self, operation: Operation) -> None:
        run_id = self._find_parent()
        if run_id is None:
            tags = {**operation["tags"], names.SWEEP_ID: self._sweep_id}
            run = self._client.create_run(self._experiment(), start_time=operation["time"], tags=tags,
                                          run_name=self._sweep_name)
            run_id = run.info.run_id
            self._parent_run_id = run_id
            self._log(run_id, params=operation["params"])
        else:
            self._log(run_id, params=self._new_params(run_id, operation["params"]), tags=operation["tags"])
            self._client.update_run(run_id, status=_RUNNING)
        for local_path, artifact_path in operation["artifacts"]:
            self._client.log_artifact(run_id, local_path, artifact_path)

    def _start_trial(self, operation: Operation) -> None:
        number = operation["number"]
        parent = self._parent()
        tags = {**operation["tags"], names.PARENT_RUN_ID: parent, names.SWEEP_RUN_ID: parent}
        run_id = self._find_trial_run(number)
        if run_id is None:
            run = self._client.create_run(
                self._experiment(), start_time=operation["time"], tags=tags, run_name=f"trial-{number}"
            )
            self._trial_runs[number] = run.info.run_id
            self._logged_steps[run.info.run_id] = set()
            self._log(run.info.run_id, params=operation["params"])
        else:
            # a resumed trial continues in the run it had, not in a duplicate
            self._log(run_id, params=self._new_params(run_id, operation["params"]), tags=tags)
            self._client.update_run(run_id, status=_RUNNING)

    def _end_trial(self, operation: Operation) -> None:
        run_id = self._trial_run(operation["number"])
        tags = {names.TRIAL_STATE: operation["state"]}
        if operation.get("reason"):
            tags[names.FAIL_REASON if operation["state"] == "FAIL" else names.STOP_REASON] = operation["reason"]
        self._log(run_id, tags=tags)
        self._client.set_terminated(run_id, status=names.RUN_STATUS[operation["state"]], end_time=operation["time"])

    def _end_sweep(self, operation: Operation) -> None:
        parent = self._parent()
        tags = dict(operation["tags"])
        metrics = dict(operation["metrics"])
        if operation["best_number"] is not None:
            best = self._client.get_run(self._trial_run(operation["best_number"]))
            tags[names.BEST_PREFIX + "run_id"] = best.info.run_id
            for name in json.loads(best.data.tags.get(names.SEARCHED, "[]")):
                value = best.data.params.get(names.safe_name(name))
                if value is None:
                    continue
                tags[names.BEST_PREFIX + "params." + names.safe_name(name)] = value
                try:
                    metrics[names.BEST_METRIC_PREFIX + "params/" + names.safe_name(name)] = float(value)
                except ValueError:
                    pass  # a categorical value (a strategy name) is a tag only
        self._log(parent, metrics=metrics, tags=tags, step=0, time_ms=operation["time"])
        self._client.set_terminated(parent, status=names.RUN_STATUS["COMPLETE"], end_time=operation["time"])

    def _log_step(self, run_id: str, operation: Operation) -> None:
        """Log a ``metrics`` operation unless the run has metrics at its step already (see the module docstring)."""
        if not operation["metrics"]:
            return
        steps = self._logged_steps.get(run_id)
        if steps is None:
            # A run an earlier driver made: its steps are those of any metric every report carries.
            key = min(operation["metrics"])
            steps = self._logged_steps[run_id] = {m.step for m in self._client.get_metric_history(run_id, key)}
        step = operation["step"]
        if step in steps:
            return
        self._log(run_id, metrics=operation["metrics"], step=step, time_ms=operation["time"])
        steps.add(step)

    def _log(
        self,
        run_id: str,
        *,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        metrics: Mapping[str, float] | None = None,
        step: int = 0,
        time_ms: int = 0,
    ) -> None:
        """Everything in one ``log_batch``: MlflowClient splits it into requests within the server's limits itself
        (100 params/tags, 1000 metrics a request; tests/test_private_apis.py holds it to that)."""
        self._client.log_batch(
            run_id,
            metrics=[Metric(key, value, time_ms, step) for key, value in (metrics or {}).items()],
            params=[Param(key, value) for key, value in (params or {}).items()],
            tags=[RunTag(key, value) for key, value in (tags or {}).items()],
            synchronous=True,
        )

    def _new_params(self, run_id: str, params: Mapping[str, str]) -> dict[str, str]:
        # MLflow refuses to change a logged param, so a resumed run only adds the params it lacks.
        logged = self._client.get_run(run_id).data.params
        return {key: value for key, value in params.items() if key not in logged}

    def _experiment(self) -> str:
        if self._experiment_id is None:
            experiment = self._client.get_experiment_by_name(self._experiment_name)
            if experiment is None:
                self._experiment_id = self._client.create_experiment(
                    self._experiment_name, artifact_location=self._artifact_location
                )
            else:
                if experiment.lifecycle_stage == LifecycleStage.DELETED:
                    logger.warning("restoring the deleted MLflow experiment %r to record the sweep in it",
                                   self._experiment_name)
                    self._client.restore_experiment(experiment.experiment_id)
                self._experiment_id = experiment.experiment_id
        return self._experiment_id

    def _find_parent(self) -> str | None:
        if self._parent_run_id is None:
            runs = self._client.search_runs(
                [self._experiment()],
                filter_string=(
                    f"tags.`{names.KIND}` = {names.quote(names.KIND_SWEEP)} "
                    f"and tags.`{names.SWEEP_ID}` = {names.quote(self._sweep_id)}"
                ),
                order_by=["attributes.start_time ASC"],
                max_results=1,
            )
            self._parent_run_id = runs[0].info.run_id if runs else None
        return self._parent_run_id

    def _parent(self) -> str:
        run_id = self._find_parent()
        if run_id is None:
            raise LookupError(f"no parent run of sweep {self._sweep_name!r} in MLflow")
        return run_id

    def _find_trial_run(self, number: int) -> str | None:
        if number not in self._trial_runs:
            runs = self._client.search_runs(
                [self._experiment()],
                filter_string=(
                    f"tags.`{names.PARENT_RUN_ID}` = {names.quote(self._parent())} "
                    f"and tags.`{names.TRIAL_NUMBER}` = '{number}'"
                ),
                order_by=["attributes.start_time ASC"],
                max_results=1,
            )
            if not runs:
                return None
            self._trial_runs[number] = runs[0].info.run_id
        return self._trial_runs[number]

    def _trial_run(self, number: int) -> str:
        run_id = self._find_trial_run(number)
        if run_id is None:
            raise LookupError(f"no MLflow run of trial {number}")
        return run_id


def describe(operation: Operation) -> str:
    """A short description of an operation for warnings, e.g. ``metrics of trial 3 at step 200 (41 values)``."""
    kind = operation["op"]
    if kind == "metrics":
        return f"metrics of trial {operation['number']} at step {operation['step']} ({len(operation['metrics'])} values)"
    if "number" in operation:
        return f"{kind} of trial {operation['number']}"
    return kind


def summarize(operations: Iterable[Operation]) -> str:
    """One line about kept operations: how many metric values of which trials, and what else."""
    operations = list(operations)
    metric_values = sum(len(op["metrics"]) for op in operations if op["op"] == "metrics")
    trials = sorted({op["number"] for op in operations if "number" in op})
    others = [op["op"] for op in operations if op["op"] != "metrics"]
    return (
        f"{len(operations)} operations: {metric_values} metric values of trials {json.dumps(trials)}"
        + (f", plus {', '.join(others)}" if others else "")
    )
