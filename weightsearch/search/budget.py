"""The sweep's wall-clock budget: stop every trial when it is spent, and close those trials in the study."""

from __future__ import annotations

import time
from typing import Any

from ray.tune import Callback, Stopper

from weightsearch.search.bridge import OptunaBridge

BUDGET_REASON = "the sweep's time budget ran out"


class TimeBudget(Stopper, Callback):
    """Stop the sweep after ``seconds``; trials it cuts short are told PRUNED (``stop_reason`` says why).

    Ray stops trials for a spent budget without calling the searcher, the scheduler or the
    callbacks' ``on_trial_complete``, so without this their Optuna trials would stay RUNNING. An
    interrupted sweep (Ctrl-C) leaves them RUNNING on purpose: a resume continues them.
    Listed before the other callbacks, so that they see the final states at experiment end.
    """

    def __init__(self, bridge: OptunaBridge, seconds: float) -> None:
        self.bridge = bridge
        self.seconds = seconds
        self.spent = False
        self._start = time.monotonic()

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        self.spent = self.spent or time.monotonic() - self._start >= self.seconds
        return self.spent

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        if not self.spent:
            return
        for ray_trial_id in self.bridge.running_ids():
            self.bridge.prune(ray_trial_id, BUDGET_REASON)
