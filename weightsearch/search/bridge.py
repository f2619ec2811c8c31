"""The driver-side link between Ray trial ids and the trials of one Optuna study (ask, report, tell).

The searcher asks, the pruning scheduler reports and prunes, the searcher tells the end: all of it
goes through one :class:`OptunaBridge`, so every Optuna state change is made in one place and
mirrored into :class:`~weightsearch.search.outcomes.TrialOutcomes` before Ray calls its callbacks.
Every storage call is retried with exponential backoff, so that a database locked or unreachable
for a moment (SQLite under a reader, a restarting PostgreSQL) does not end the sweep.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import optuna
from optuna.exceptions import StorageInternalError
from optuna.trial import TrialState
from sqlalchemy.exc import OperationalError

from weightsearch.search.outcomes import TrialOutcomes

logger = logging.getLogger(__name__)

STORAGE_ATTEMPTS = 5
STORAGE_FIRST_DELAY_S = 0.5
_Result = TypeVar("_Result")


class OptunaBridge:
    """Ask/report/tell on ``study`` on behalf of Ray trials, recording each decision in ``outcomes``."""

    def __init__(self, study: optuna.Study, metrics: Sequence[str]) -> None:
        if len(metrics) != len(study.directions):
            raise ValueError(f"{len(metrics)} objective metrics for a study with {len(study.directions)} directions")
        self.study = study
        self.metrics = tuple(metrics)
        self.outcomes = TrialOutcomes()
        self._asked: dict[str, optuna.trial.Trial] = {}
        self._numbers: dict[str, int] = {}
        self._failure_reasons: dict[str, str] = {}

    @property
    def multi_objective(self) -> bool:
        return len(self.metrics) > 1

    def ask(self, ray_trial_id: str) -> optuna.trial.Trial:
        """A new Optuna trial for ``ray_trial_id`` (state RUNNING until told otherwise)."""
        trial = with_storage_retries(self.study.ask)
        self._asked[ray_trial_id] = trial
        self._numbers[ray_trial_id] = trial.number
        self.outcomes.record(ray_trial_id, trial.number, "RUNNING")
        return trial

    def adopt(self, ray_trial_id: str, number: int) -> optuna.trial.Trial:
        """Give ``ray_trial_id`` the study's RUNNING trial ``number`` (a resume continues it under a new Ray id)."""
        trials = with_storage_retries(lambda: self.study.get_trials(deepcopy=False))
        frozen = next(trial for trial in trials if trial.number == number)
        if frozen.state != TrialState.RUNNING:
            raise ValueError(f"Optuna trial {number} is {frozen.state.name}, not RUNNING: it cannot be continued")
        trial = _live_trial(self.study, frozen)
        self._asked[ray_trial_id] = trial
        self._numbers[ray_trial_id] = number
        self.outcomes.record(ray_trial_id, number, "RUNNING")
        return trial

    def backfill(self, number: int, value: float, step: int) -> None:
        """Store ``value`` at ``step`` of RUNNING trial ``number`` unless the study has it already.

        A driver killed after Ray stored a trial's checkpoint but before the trial's report reached the
        study leaves that step missing; a resume puts it back from the checkpoint before continuing.
        """
        trials = with_storage_retries(lambda: self.study.get_trials(deepcopy=False))
        frozen = next(trial for trial in trials if trial.number == number)
        if self.multi_objective or frozen.state != TrialState.RUNNING or step in frozen.intermediate_values:
            return
        with_storage_retries(lambda: _live_trial(self.study, frozen).report(value, step))

    def report(self, ray_trial_id: str, value: float, step: int) -> bool:
        """Store ``value`` as the intermediate value at ``step``; prune and return True if the pruner says so.

        Multi-objective studies are never pruned (Optuna cannot).
        """
        trial = self._running(ray_trial_id)
        if trial is None or self.multi_objective:
            return False
        # A trial continued from an older checkpoint reports some steps again: Optuna keeps the first value.
        with_storage_retries(lambda: trial.report(value, step))
        if not with_storage_retries(trial.should_prune):
            return False
        self._finish(ray_trial_id, TrialState.PRUNED)
        return True

    def note_failure(self, ray_trial_id: str, reason: str) -> None:
        """Remember why a trial errored, for :meth:`fail` (Ray gives the reason to the scheduler only)."""
        self._failure_reasons[ray_trial_id] = reason

    def fail(self, ray_trial_id: str, reason: str | None = None) -> None:
        """Tell FAIL with the reason kept as the Optuna user attribute ``fail_reason``."""
        trial = self._running(ray_trial_id)
        if trial is None:
            return
        reason = reason or self._failure_reasons.pop(ray_trial_id, None) or "the trial raised an error"
        with_storage_retries(lambda: trial.set_user_attr("fail_reason", reason))
        self._finish(ray_trial_id, TrialState.FAIL, reason=reason)

    def complete(self, ray_trial_id: str, result: Mapping[str, object] | None) -> None:
        """Tell COMPLETE with the objective value(s) of the final result, or FAIL when one is missing or not finite."""
        trial = self._running(ray_trial_id)
        if trial is None:
            return
        values = [(result or {}).get(metric) for metric in self.metrics]
        bad = [m for m, v in zip(self.metrics, values) if not isinstance(v, (int, float)) or not math.isfinite(v)]
        if bad:
            self.fail(ray_trial_id, f"objective {bad[0]!r} missing or not finite in the final result")
            return
        self._finish(ray_trial_id, TrialState.COMPLETE, values=[float(v) for v in values])  # type: ignore[arg-type]

    def prune(self, ray_trial_id: str, reason: str) -> None:
        """Tell PRUNED for a trial stopped from outside the pruner (the sweep's time budget ran out)."""
        trial = self._running(ray_trial_id)
        if trial is None:
            return
        with_storage_retries(lambda: trial.set_user_attr("stop_reason", reason))
        self._finish(ray_trial_id, TrialState.PRUNED, reason=reason)

    def links(self) -> dict[str, int]:
        """Ray trial id -> Optuna trial number for every trial asked so far."""
        return dict(self._numbers)

    def running_ids(self) -> list[str]:
        """Ray trial ids whose Optuna trial has not been told an end yet."""
        return [ray_id for ray_id in self._numbers if self._running(ray_id) is not None]

    def _finish(
        self, ray_trial_id: str, state: TrialState, *, values: list[float] | None = None, reason: str | None = None
    ) -> None:
        """Tell ``state`` to the study, then record it (callbacks read it next) and drop the trial's handle."""
        trial = self._asked.pop(ray_trial_id)
        with_storage_retries(lambda: _tell(self.study, trial, values, state))
        self.outcomes.record(ray_trial_id, trial.number, state.name, reason)  # type: ignore[arg-type]

    def _running(self, ray_trial_id: str) -> optuna.trial.Trial | None:
        outcome = self.outcomes.get(ray_trial_id)
        if outcome is None or outcome.state != "RUNNING":
            return None
        return self._asked.get(ray_trial_id)


def _live_trial(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> optuna.trial.Trial:
    """A reporting handle on an existing trial; Optuna offers no public way, so this reads ``_trial_id``."""
    return optuna.trial.Trial(study, frozen._trial_id)  # noqa: SLF001


def with_storage_retries(call: Callable[[], _Result]) -> _Result:
    """``call()``, tried again after 0.5, 1, 2, 4 s when the study storage fails; the last failure is raised."""
    delay = STORAGE_FIRST_DELAY_S
    for attempt in range(1, STORAGE_ATTEMPTS + 1):
        try:
            return call()
        except (StorageInternalError, OperationalError) as error:
            if attempt == STORAGE_ATTEMPTS:
                raise
            logger.warning("Optuna storage failed (%s); trying again in %.1f s", str(error).splitlines()[0], delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _tell(
    study: optuna.Study, trial: optuna.trial.Trial, values: Sequence[float] | None, state: TrialState
) -> None:
    """``study.tell`` that survives a sampler ending the study (GridSampler once its grid is used up).

    GridSampler's ``after_trial`` calls ``study.stop()``, which raises outside ``study.optimize``;
    Optuna stores the trial's state in a ``finally`` first, so the tell has landed and the sweep's
    own budget decides what happens next.
    """
    try:
        study.tell(trial, values=values, state=state, skip_if_finished=True)
    except RuntimeError as error:
        if "Study.stop" not in str(error):
            raise
