"""The sweep's wall-clock budget: stop every trial when it is spent, and close those trials in the study.

The clock is the sweep's, not the process's: the seconds its Tune loop has run are kept in the study
(user attribute ``time_spent_s``, saved every few seconds and at the end), so a resumed sweep goes on
with what the runs before it left of the budget (at most :data:`SAVE_EVERY_S` of a killed driver's time
is lost). Time between runs (no driver) does not count.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune import Callback, Stopper

from weightsearch.contracts import STUDY_ATTR_TIME_SPENT
from weightsearch.search.bridge import STORAGE_ERRORS, OptunaBridge, with_storage_retries

logger = logging.getLogger(__name__)

BUDGET_REASON = "the sweep's time budget ran out"
SAVE_EVERY_S = 5.0


def time_spent(study: optuna.Study) -> float:
    """Seconds the sweep of ``study`` has run so far, over every run and resume."""
    return float(study.user_attrs.get(STUDY_ATTR_TIME_SPENT, 0.0))


def close_when_spent(bridge: OptunaBridge, seconds: float | None) -> bool:
    """True when the budget of ``seconds`` is spent already; then the study's RUNNING trials are told PRUNED.

    A resume calls it first: with nothing left of the budget it runs nothing, and the trials the last
    run left RUNNING (interrupted, or killed) end as the budget would have ended them.
    """
    if not seconds or time_spent(bridge.study) < seconds:
        return False
    running = [trial.number for trial in bridge.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
    for number in running:
        closing = f"budget-spent-{number}"
        bridge.adopt(closing, number)
        bridge.prune(closing, BUDGET_REASON)
    bridge.flush()
    logger.warning("the sweep's time budget of %g s is spent (%.0f s run): no trial is started%s", seconds,
                   time_spent(bridge.study), f"; trials {running} are closed as PRUNED" if running else "")
    return True


class TimeBudget(Stopper, Callback):
    """Count the sweep's time in its study; stop the sweep once ``seconds`` (None: no limit) are spent.

    Trials it cuts short are told PRUNED (``stop_reason`` says why). Ray stops trials for a spent
    budget without calling the searcher, the scheduler or the callbacks' ``on_trial_complete``, so
    without this their Optuna trials would stay RUNNING. An interrupted sweep (Ctrl-C) leaves them
    RUNNING on purpose: a resume continues them. Listed before the other callbacks, so that they see
    the final states at experiment end.
    """

    def __init__(self, bridge: OptunaBridge, seconds: float | None, *, save_every_s: float = SAVE_EVERY_S) -> None:
        self.bridge = bridge
        self.seconds = seconds
        self.save_every_s = save_every_s
        self.spent = False
        self._before = time_spent(bridge.study)
        self._start = self._saved_at = time.monotonic()

    def setup(self, **info: Any) -> None:
        # The Tune loop starts now (the Tuner may have been built a while before).
        self._start = self._saved_at = time.monotonic()

    def elapsed(self) -> float:
        """Seconds spent by the sweep: by the runs before this one, then by this one."""
        return self._before + time.monotonic() - self._start

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        self.spent = self.spent or (self.seconds is not None and self.elapsed() >= self.seconds)
        return self.spent

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if time.monotonic() - self._saved_at >= self.save_every_s:
            self._save()

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._save()
        if not self.spent:
            return
        for ray_trial_id in self.bridge.running_ids():
            self.bridge.prune(ray_trial_id, BUDGET_REASON)

    def _save(self) -> None:
        self._saved_at = time.monotonic()
        elapsed = self.elapsed()
        try:
            with_storage_retries(lambda: self.bridge.study.set_user_attr(STUDY_ATTR_TIME_SPENT, elapsed))
        except STORAGE_ERRORS as error:  # the next save carries it
            logger.info("could not save the sweep's time spent (%s)", error)
