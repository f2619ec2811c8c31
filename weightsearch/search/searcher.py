"""Optuna's sampler as a Ray Tune searcher: ask the study, sample the space define-by-run, tell the end.

Unlike Ray's ``OptunaSearch``, a trial stopped by the pruning scheduler is not told COMPLETE with
its last (bad) value, and an errored trial is told FAIL with its reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray.tune.search import Searcher

from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.summary import PARAMS_ATTR
from weightsearch.trial.config import TrialConfig

if TYPE_CHECKING:
    from weightsearch.space import SearchSpace


class OptunaSearcher(Searcher):
    """Suggest ``{"trial_number", "params", "trial"}`` configs from the study of ``bridge``.

    ``params`` are the flat sampled values (dotted :class:`TrialConfig` paths) and ``trial`` the
    resolved :class:`TrialConfig` as a dict, which the trainable runs.
    """

    def __init__(self, bridge: OptunaBridge, space: SearchSpace, base: TrialConfig) -> None:
        directions = bridge.study.directions
        modes = ["min" if d.name == "MINIMIZE" else "max" for d in directions]
        metric: str | list[str] = bridge.metrics[0] if len(modes) == 1 else list(bridge.metrics)
        super().__init__(metric=metric, mode=modes[0] if len(modes) == 1 else modes)
        self.bridge = bridge
        self.space = space
        self.base = base

    def suggest(self, trial_id: str) -> dict[str, Any]:
        trial = self.bridge.ask(trial_id)
        try:
            params = self.space.sample(trial)
            resolved = self.space.resolve(self.base, params)
        except Exception as error:
            self.bridge.fail(trial_id, f"sampling failed: {type(error).__name__}: {error}")
            raise
        # The study then shows the TrialConfig paths (Optuna's own names are prefixed or coordinates).
        trial.set_user_attr(PARAMS_ATTR, params)
        return {"trial_number": trial.number, "params": params, "trial": resolved.model_dump(mode="json")}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        # A pruned trial was told PRUNED by the scheduler already; the bridge ignores finished trials.
        if error:
            self.bridge.fail(trial_id)
        else:
            self.bridge.complete(trial_id, result)

    def save(self, checkpoint_path: str) -> None:
        """Only the Ray id -> Optuna number links: every other piece of state lives in the study."""
        Path(checkpoint_path).write_text(json.dumps(self.bridge.links()))

    def restore(self, checkpoint_path: str) -> None:
        self.bridge.relink(json.loads(Path(checkpoint_path).read_text()))
