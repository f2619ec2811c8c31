"""The Ray Tune callback that records a sweep in MLflow: one parent run, one nested child run per trial.

Why not Ray's ``MLflowLoggerCallback``: it makes one flat run per trial with no parent (ray#19909)
and keeps no state across a restore, so resumed trials get new runs; Optuna's
``MLflowCallback(nested=True)`` makes no parent either (optuna#5148). Here the parent run is found
by its tags (``weightsearch.kind=sweep``, ``weightsearch.sweep=<name>``) and each child by
``optuna.trial_number`` under it, so a resumed sweep continues the same runs instead of duplicating them.
(The parent is matched by ``weightsearch.sweep_id``, an id kept in the Optuna study, so a new sweep
that reuses an old name starts a new parent.)

The callback runs on the driver and only queues operations; :class:`~weightsearch.tracking.writer.MlflowWriter`
sends them from a thread and keeps them in a local spool while MLflow is unreachable. When a resumed
sweep starts (once the spool of the driver before is sent) and when every sweep ends, the runs are
reconciled with the study (:mod:`~weightsearch.tracking.reconcile`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from importlib import metadata
from typing import Any

import optuna
import ray
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.result import AUTO_RESULT_KEYS, DONE, TRAINING_ITERATION

from weightsearch.config import SweepSpec, spec_to_yaml
from weightsearch.contracts import (
    ATTR_FAIL_REASON,
    ATTR_PARAMS,
    ATTR_RETRIES,
    ATTR_STOP_REASON,
    CONFIG_PARAMS,
    CONFIG_RESUME_FROM,
    CONFIG_TRIAL,
    CONFIG_TRIAL_NUMBER,
    RESULT_STEP,
    STUDY_ATTR_CALIBRATION,
)
from weightsearch.redact import without_password
from weightsearch.tracking import names, ui
from weightsearch.tracking.reconcile import Reconciliation, reconcile, sweep_writer, tracking_dir
from weightsearch.tracking.writer import MlflowWriter, summarize

logger = logging.getLogger(__name__)

# Ray's own bookkeeping in every result (pids, wall-clock stamps, iteration counters): not metrics of the trial.
_NOT_METRICS = frozenset(AUTO_RESULT_KEYS) | {DONE, RESULT_STEP}
_VERSIONED_PACKAGES = ("weightsearch", "ray", "optuna", "mlflow", "torch")
# How long the end of a sweep waits for MLflow (to come back, or to take a backlog) before leaving
# the rest in the spool for the next run of the sweep.
_END_FLUSH_TIMEOUT_S = 30.0
_FINAL_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
__all__ = ["MlflowSweepCallback", "tracking_dir"]


class MlflowSweepCallback(Callback):
    """Record sweep ``spec`` in MLflow: parent run, one child run per trial, metrics per step, plots at the end.

    Pass it to the sweep's ``Tuner`` (``run_sweep(spec, callbacks=[MlflowSweepCallback(spec)])``); it
    opens the sweep's Optuna study itself in :meth:`setup`. A trial's final state (COMPLETE, PRUNED or
    FAIL, with the reason) is read from that study: the searcher and scheduler tell Optuna before Ray
    calls callbacks, and the study, unlike driver memory, is the same after a resume.

    Args:
        spec: the resolved sweep spec (tracking URI, experiment, Optuna storage, objectives, sampler, pruner).
        top_k: how many of the best trials the weight-trajectory plot shows.
    """

    def __init__(self, spec: SweepSpec, *, top_k: int = 5) -> None:
        self.spec = spec
        self.top_k = top_k
        self.tracking_uri = spec.tracking_uri
        self.files_dir = tracking_dir(spec.paths.dir)
        # Made in setup(): Ray pickles its callbacks with the Tuner, and these hold threads, locks and connections.
        self.writer: MlflowWriter | None = None
        self.study: optuna.Study | None = None
        self._started: set[int] = set()
        self._ended: set[int] = set()
        # Trials continued from a checkpoint: a resume may have put a lost report back into the study
        # only, so their objective histories are compared at the end.
        self._continued: set[int] = set()
        # The reconciliations of this sweep's stores so far (at a resume's start, at the end); the CLI
        # reconciles itself when the end's is missing (a second Ctrl-C).
        self.reconciliations: list[Reconciliation] = []
        self.reconciled_at_end = False
        self.ui_url: str | None = None  # the sweep's trials in MLflow's UI, once the sweep ended

    # --- Ray Tune hooks ------------------------------------------------------------------------

    def setup(self, **info: Any) -> None:
        self.study = optuna.load_study(study_name=self.spec.name, storage=self.spec.optuna_url)
        sweep_id = self.study.user_attrs.get(names.SWEEP_ID)
        if sweep_id is None:
            sweep_id = uuid.uuid4().hex
            self.study.set_user_attr(names.SWEEP_ID, sweep_id)
        self.writer = sweep_writer(self.spec, sweep_id)
        self.writer.start()
        # The driver mostly waits on Ray while trials train: a good time for the figures' start-up costs.
        threading.Thread(target=_warm_up_plots, name="weightsearch-plots-warm-up", daemon=True).start()
        spec_file = self.files_dir / "spec.yaml"
        spec_text = without_password(spec_to_yaml(self.spec))
        spec_file.write_text(spec_text)
        self.writer.submit(
            {
                "op": "sweep_start",
                "time": _now_ms(),
                "params": names.as_params(yaml.safe_load(spec_text)),
                "tags": self._sweep_tags(),
                "artifacts": [[str(spec_file), None]],
            }
        )
        if self.study.get_trials(deepcopy=False):
            # A resume: what the driver before left undone (in the spool, or never sent) is put right first.
            self._reconcile(deep=())

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        number = _trial_number(trial)
        if number in self._started:
            return
        self._started.add(number)
        if trial.config.get(CONFIG_RESUME_FROM):
            self._continued.add(number)
        self._ended.discard(number)
        sampled = trial.config.get(CONFIG_PARAMS, {})
        resolved = trial.config[CONFIG_TRIAL]
        self.writer.submit(
            {
                "op": "trial_start",
                "time": _now_ms(),
                "number": number,
                "params": {**names.as_params(resolved), **names.as_params(sampled)},
                "tags": {
                    names.KIND: names.KIND_TRIAL,
                    names.SWEEP: self.spec.name,
                    names.TRIAL_NUMBER: str(number),
                    names.RAY_TRIAL_ID: trial.trial_id,
                    names.TRIAL_STATE: "RUNNING",
                    names.SEARCHED: json.dumps(sorted(sampled)),
                    names.TRIAL_CONFIG: without_password(json.dumps(resolved, sort_keys=True)),
                },
            }
        )

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        metrics = names.numeric_metrics(result, skip=_NOT_METRICS)
        if not metrics:
            return
        step = result.get(RESULT_STEP, result.get(TRAINING_ITERATION, 0))
        self.writer.submit(
            {"op": "metrics", "time": _now_ms(), "number": _trial_number(trial), "step": int(step), "metrics": metrics}
        )

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._end_trial(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._end_trial(trial, errored=True)

    def on_trial_recover(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        # Ray retries the trial from its checkpoint; the search side counted it in the study just before.
        number = _trial_number(trial)
        told = next((t for t in self.study.get_trials(deepcopy=False) if t.number == number), None)
        retries = told.user_attrs.get(ATTR_RETRIES) if told is not None else None
        if retries:
            self.writer.submit({"op": "trial_tags", "time": _now_ms(), "number": number,
                                "tags": {names.RETRIES: str(retries)}})

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        # Every way a sweep ends passes here (Ray's stop-all path of the time budget too, which calls no
        # on_trial_complete): the runs of trials cut short or never ended are put right from the study.
        self.reconciled_at_end = self._reconcile(deep=self._continued)
        if self.spec.pruner.calibrate is not None:
            # The calibrated pruner's per-step ρ and trusted steps, as the study keeps them at the end.
            calibration = self.files_dir / names.CALIBRATION_ARTIFACT
            calibration.write_text(json.dumps(self.study.user_attrs.get(STUDY_ATTR_CALIBRATION, {}), indent=2))
            self.writer.submit({"op": "artifacts", "time": _now_ms(), "files": [[str(calibration), None]]})
        self.writer.submit({"op": "sweep_end", "time": _now_ms(), **self._sweep_results()})
        if self.writer.flush(_END_FLUSH_TIMEOUT_S) and self.writer.parent_run_id is not None:
            self._set_up_ui()  # while the writer is idle (flushed)
            from weightsearch.tracking.report import render_sweep_plots

            try:
                plots = render_sweep_plots(
                    self.study,
                    tracking_uri=self.tracking_uri,
                    parent_run_id=self.writer.parent_run_id,
                    objectives=list(zip(self.spec.metrics, self.spec.directions)),
                    out_dir=self.files_dir / "plots",
                    top_k=self.top_k,
                )
            except Exception as error:  # the figures must not cost the sweep its recording
                logger.warning("could not draw the sweep's plots: %s", error)
            else:
                self.writer.submit({"op": "artifacts", "time": _now_ms(), "files": [[str(p), "plots"] for p in plots]})
        if not self.writer.close(_END_FLUSH_TIMEOUT_S):
            logger.warning(
                "MLflow at %s did not take everything before the sweep ended: %s are kept in %s and are sent "
                "when this sweep runs again (resume); plots are not made without MLflow",
                without_password(self.tracking_uri), summarize(self.writer.spool.read()), self.writer.spool.path,
            )

    # --- helpers -------------------------------------------------------------------------------

    def _end_trial(self, trial: Trial, *, errored: bool) -> None:
        number = _trial_number(trial)
        if number in self._ended:
            return
        self._ended.add(number)
        self._started.discard(number)
        told = next((t for t in self.study.get_trials(deepcopy=False) if t.number == number), None)
        if told is not None and told.state in _FINAL_STATES:
            state = told.state.name
            reason = told.user_attrs.get(ATTR_FAIL_REASON) or told.user_attrs.get(ATTR_STOP_REASON)
        else:
            logger.warning("Optuna trial %d has no final state yet; recording it as Ray saw it", number)
            state, reason = ("FAIL", _ray_error(trial)) if errored else ("COMPLETE", None)
        self.writer.submit(
            {
                "op": "trial_end",
                "time": _now_ms(),
                "number": number,
                "state": state,
                "reason": names.reason_value(reason) if reason and state != "COMPLETE" else None,
            }
        )

    def _set_up_ui(self) -> None:
        """Make MLflow's UI open on the trials (runs view, objective and searched values as columns); keep its URL."""
        located = self.writer.sweep_run()
        if located is None:
            return
        trials = self.study.get_trials(deepcopy=False)
        searched = {name for trial in trials for name in trial.user_attrs.get(ATTR_PARAMS, {})}
        objectives = list(zip(self.spec.metrics, self.spec.directions))
        try:
            ui.set_up_experiment(MlflowClient(self.tracking_uri), located[0], objectives, searched)
        except Exception as error:  # noqa: BLE001 - a convenience: MLflow's default view still shows the runs
            logger.warning("could not set up MLflow's runs view: %s", error)
        self.ui_url = ui.runs_view_url(self.tracking_uri, located[0])

    def _reconcile(self, *, deep: set[int] | tuple[()]) -> bool:
        """Once MLflow took every operation so far, make the sweep's runs agree with the study; True when done."""
        located = self.writer.sweep_run() if self.writer.flush(_END_FLUSH_TIMEOUT_S) else None
        if located is None:
            logger.warning("MLflow at %s did not take the sweep's operations in time: its runs are reconciled with "
                           "the study when the sweep runs again", without_password(self.tracking_uri))
            return False
        experiment_id, parent_run_id = located
        try:
            self.reconciliations.append(reconcile(
                self.study, MlflowClient(self.tracking_uri), experiment_id=experiment_id,
                parent_run_id=parent_run_id, metrics=self.spec.metrics, deep=deep,
            ))
        except Exception as error:  # noqa: BLE001 - MLflow went away meanwhile: the next run of the sweep does it
            logger.warning("could not reconcile MLflow with the study: %s", error)
            return False
        return True

    def _sweep_tags(self) -> dict[str, str]:
        tags = {
            names.KIND: names.KIND_SWEEP,
            names.SWEEP: self.spec.name,
            names.SAMPLER: self.spec.sampler.name,
            names.PRUNER: self.spec.pruner.name,
            names.RAY_ADDRESS: _ray_address(),
            names.OBJECTIVES: json.dumps(
                [{"metric": metric, "direction": direction} for metric, direction in zip(self.spec.metrics, self.spec.directions)]
            ),
            names.SPACE_OVERRIDES: json.dumps(_space_overrides(self.spec)),
        }
        for package in _VERSIONED_PACKAGES:
            try:
                tags[names.VERSION_PREFIX + package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                tags[names.VERSION_PREFIX + package] = "not installed"
        return tags

    def _sweep_results(self) -> dict[str, Any]:
        """Trial counts per state and, for one objective, the best trial: the parent's final metrics and tags."""
        trials = self.study.get_trials(deepcopy=False)
        metrics: dict[str, float] = {
            f"trials/{state.name.lower()}": float(sum(t.state == state for t in trials))
            for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        }
        tags: dict[str, str] = {}
        best_number = None
        if self.spec.is_multi_objective:
            front = sorted(trial.number for trial in self.study.best_trials)
            tags[names.BEST_PREFIX + "trial_numbers"] = json.dumps(front)
        elif any(t.state == TrialState.COMPLETE for t in trials):
            best = self.study.best_trial
            best_number = best.number
            metrics[names.BEST_METRIC_PREFIX + names.safe_name(self.spec.metrics[0])] = float(best.value)
            tags[names.BEST_PREFIX + "trial_number"] = str(best.number)
            tags[names.BEST_PREFIX + "value"] = repr(float(best.value))
        return {"metrics": metrics, "tags": tags, "best_number": best_number}


def _space_overrides(spec: SweepSpec) -> list[str]:
    """The parent's ``trial.*`` params the space sets per trial (a sampled strategy replaces all its arguments)."""
    space = spec.space
    paths = {leaf.path for strategy in space.strategy_names() or [None] for leaf in space.leaves(strategy)}
    if space.strategy_names():
        paths = {path for path in paths if not path.startswith("strategy_params.")} | {"strategy", "strategy_params"}
    return sorted(f"trial.{path}" for path in paths)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _trial_number(trial: Trial) -> int:
    return int(trial.config[CONFIG_TRIAL_NUMBER])


def _ray_address() -> str:
    return ray.get_runtime_context().gcs_address if ray.is_initialized() else "none"


def _ray_error(trial: Trial) -> str:
    error = trial.get_error()
    if error is None:
        return "the trial raised an error"
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _warm_up_plots() -> None:
    """Import the figures' module (matplotlib, scikit-learn through optuna.importance: ~2 s) and warm it up,
    on a thread: the driver's start does not wait for what only the sweep's end needs."""
    from weightsearch.tracking.report import warm_up

    warm_up()
