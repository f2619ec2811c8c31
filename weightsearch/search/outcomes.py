"""Driver-side record of what the Optuna bridge decided for each Ray trial.

Ray calls the scheduler and the searcher before its callbacks, so by the time the tracking callback
sees a trial end, the bridge has written its Optuna state (COMPLETE, PRUNED or FAIL) here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TrialState = Literal["RUNNING", "COMPLETE", "PRUNED", "FAIL"]


@dataclass
class TrialOutcome:
    """The Optuna trial behind a Ray trial, and its state as the bridge last recorded it."""

    number: int
    state: TrialState = "RUNNING"
    reason: str | None = None


class TrialOutcomes:
    """Map from Ray trial id to :class:`TrialOutcome`, shared by the searcher, scheduler and callbacks."""

    def __init__(self) -> None:
        self._by_ray_id: dict[str, TrialOutcome] = {}

    def record(self, ray_trial_id: str, number: int, state: TrialState, reason: str | None = None) -> None:
        self._by_ray_id[ray_trial_id] = TrialOutcome(number, state, reason)

    def get(self, ray_trial_id: str) -> TrialOutcome | None:
        return self._by_ray_id.get(ray_trial_id)
