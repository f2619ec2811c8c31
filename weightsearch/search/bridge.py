"""The driver-side link between Ray trial ids and the trials of one Optuna study (ask, report, tell).

The searcher asks, the pruning scheduler reports and prunes, the searcher tells the end: all of it
goes through one :class:`OptunaBridge`, so every Optuna state change is made in one place and
mirrored into :class:`~weightsearch.search.outcomes.TrialOutcomes` before Ray calls its callbacks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import optuna
from optuna.trial import TrialState

from weightsearch.search.outcomes import TrialOutcomes


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
        trial = self.study.ask()
        self._asked[ray_trial_id] = trial
        self._numbers[ray_trial_id] = trial.number
        self.outcomes.record(ray_trial_id, trial.number, "RUNNING")
        return trial

    def report(self, ray_trial_id: str, value: float, step: int) -> bool:
        """Store ``value`` as the intermediate value at ``step``; prune and return True if the pruner says so.

        Multi-objective studies are never pruned (Optuna cannot).
        """
        trial = self._running(ray_trial_id)
        if trial is None or self.multi_objective:
            return False
        trial.report(value, step)
        if not trial.should_prune():
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
        trial.set_user_attr("fail_reason", reason)
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
        trial.set_user_attr("stop_reason", reason)
        self._finish(ray_trial_id, TrialState.PRUNED, reason=reason)

    def links(self) -> dict[str, int]:
        """Ray trial id -> Optuna trial number for every trial asked so far (what a restore needs)."""
        return dict(self._numbers)

    def relink(self, links: Mapping[str, int]) -> None:
        """Re-attach Ray trial ids to their Optuna trials after a restore, with the states the study holds."""
        by_number = {trial.number: trial for trial in self.study.get_trials(deepcopy=False)}
        for ray_id, number in links.items():
            frozen = by_number[number]
            self._numbers[ray_id] = number
            if frozen.state == TrialState.RUNNING:
                self._asked[ray_id] = _live_trial(self.study, frozen)
            state = frozen.state.name
            reason = frozen.user_attrs.get("fail_reason") or frozen.user_attrs.get("stop_reason")
            self.outcomes.record(ray_id, number, state, reason)  # type: ignore[arg-type]

    def running_ids(self) -> list[str]:
        """Ray trial ids whose Optuna trial has not been told an end yet."""
        return [ray_id for ray_id in self._numbers if self._running(ray_id) is not None]

    def _finish(
        self, ray_trial_id: str, state: TrialState, *, values: list[float] | None = None, reason: str | None = None
    ) -> None:
        """Tell ``state`` to the study, then record it (callbacks read it next) and drop the trial's handle."""
        trial = self._asked.pop(ray_trial_id)
        self.study.tell(trial, values=values, state=state)
        self.outcomes.record(ray_trial_id, trial.number, state.name, reason)  # type: ignore[arg-type]

    def _running(self, ray_trial_id: str) -> optuna.trial.Trial | None:
        outcome = self.outcomes.get(ray_trial_id)
        if outcome is None or outcome.state != "RUNNING":
            return None
        return self._asked.get(ray_trial_id)


def _live_trial(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> optuna.trial.Trial:
    """A reporting handle on an existing trial; Optuna offers no public way, so this reads ``_trial_id``."""
    return optuna.trial.Trial(study, frozen._trial_id)  # noqa: SLF001
