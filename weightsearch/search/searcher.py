"""Optuna's sampler as a Ray Tune searcher: ask the study, sample the space define-by-run, tell the end.

Unlike Ray's ``OptunaSearch``, a trial stopped by the pruning scheduler is not told COMPLETE with
its last (bad) value, and an errored trial is told FAIL with its reason. After a resume, the
study's unfinished trials are handed out first, under their own numbers (see :mod:`~weightsearch.search.resume`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from ray.tune.search import Searcher

from weightsearch.config import TrialConfig
from weightsearch.contracts import (
    ATTR_PARAMS,
    ATTR_RESUMED_FROM,
    CONFIG_PARAMS,
    CONFIG_RESUME_FROM,
    CONFIG_TRIAL,
    CONFIG_TRIAL_NUMBER,
    readable_values,
)
from weightsearch.search.bridge import OptunaBridge, StorageUnavailable

if TYPE_CHECKING:
    from weightsearch.config import SearchSpace

logger = logging.getLogger(__name__)

class OptunaSearcher(Searcher):
    """Suggest configs (the ``CONFIG_*`` keys of :mod:`weightsearch.contracts`) from the study of ``bridge``.

    ``params`` are the flat sampled values (dotted :class:`TrialConfig` paths), ``trial`` the
    resolved :class:`TrialConfig` as a dict, which the trainable runs, and ``resume_from`` the
    checkpoint directory it continues from (None: from scratch). ``resumed`` maps the numbers of the
    study's RUNNING trials to continue to their last checkpoint (or None); they come first.
    """

    def __init__(
        self,
        bridge: OptunaBridge,
        space: SearchSpace,
        base: TrialConfig,
        resumed: Mapping[int, Path | None] | None = None,
    ) -> None:
        directions = bridge.study.directions
        modes = ["min" if d.name == "MINIMIZE" else "max" for d in directions]
        metric: str | list[str] = bridge.metrics[0] if len(modes) == 1 else list(bridge.metrics)
        super().__init__(metric=metric, mode=modes[0] if len(modes) == 1 else modes)
        self.bridge = bridge
        self.space = space
        self.base = base
        self.resumed = dict(sorted((resumed or {}).items()))

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """The next trial's config; None (Ray asks again on a later turn) while the study storage is down."""
        checkpoint = None
        try:
            trial, checkpoint = self._next_trial(trial_id)
        except StorageUnavailable as error:
            logger.warning("no new trial yet: %s", error)
            return None
        try:
            # On an adopted trial, suggesting again returns the values the study already holds.
            params = self.space.sample(trial)
            resolved = self.space.resolve(self.base, params)
        except Exception as error:
            self.bridge.fail(trial_id, f"sampling failed: {type(error).__name__}: {error}")
            raise
        # The study then shows the TrialConfig paths (Optuna's own names are prefixed or coordinates).
        trial.set_user_attr(ATTR_PARAMS, params)
        for name, value in readable_values(resolved.strategy, resolved.strategy_params, params).items():
            trial.set_user_attr(name, value)  # what optuna-dashboard shows: λ and the other values by name
        return {
            CONFIG_TRIAL_NUMBER: trial.number,
            CONFIG_PARAMS: params,
            CONFIG_TRIAL: resolved.model_dump(mode="json"),
            CONFIG_RESUME_FROM: str(checkpoint) if checkpoint else None,
        }

    def _next_trial(self, trial_id: str) -> tuple[optuna.Trial, Path | None]:
        """A RUNNING trial to continue (the study's unfinished ones first), else a new one."""
        if self.resumed:
            number, checkpoint = next(iter(self.resumed.items()))
            trial = self.bridge.adopt(trial_id, number)
            del self.resumed[number]  # only once adopted: a storage failure leaves it for the next ask
            # Where each resume continued the trial from (a checkpoint directory, or "scratch").
            resumed_from = [*trial.user_attrs.get(ATTR_RESUMED_FROM, []), str(checkpoint or "scratch")]
            trial.set_user_attr(ATTR_RESUMED_FROM, resumed_from)
            return trial, checkpoint
        return self.bridge.ask(trial_id), None

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        # A pruned trial was told PRUNED by the scheduler already; the bridge ignores finished trials.
        if error:
            self.bridge.fail(trial_id)
        else:
            self.bridge.complete(trial_id, result)

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the search state lives in the Optuna study, which `weightsearch resume` reads.

        Overridden so that Ray's experiment snapshots do not warn that the searcher cannot save.
        """

    def restore(self, checkpoint_path: str) -> None:
        """Nothing to restore (see :meth:`save`)."""
