"""Optuna's pruner as a Ray Tune scheduler: every result becomes an intermediate value in the study.

Ray's ``OptunaSearch`` hardcodes ``NopPruner`` and Ray's own schedulers (ASHA, median stopping)
keep their state in driver memory, lost on resume. Here the pruner is the study's own: it decides
from the intermediate values stored in the RDB, so after a resume it sees every earlier one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray.cloudpickle
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.trainable import TrialError

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.experiment import Trial

STEP_KEY = "step"


class OptunaPruningScheduler(FIFOScheduler):
    """Report the objective at each result's ``step`` and STOP the trials the study's pruner prunes."""

    def __init__(self, bridge: OptunaBridge) -> None:
        super().__init__()
        self.bridge = bridge
        if not bridge.multi_objective:
            self._metric = bridge.metrics[0]

    def on_trial_result(self, tune_controller: TuneController, trial: Trial, result: dict[str, Any]) -> str:
        if self.bridge.multi_objective:
            return TrialScheduler.CONTINUE
        value = result[self.bridge.metrics[0]]
        pruned = self.bridge.report(trial.trial_id, value, int(result[STEP_KEY]))
        return TrialScheduler.STOP if pruned else TrialScheduler.CONTINUE

    def on_trial_error(self, tune_controller: TuneController, trial: Trial) -> None:
        # Ray hands the error to the scheduler only; the searcher, called next, tells FAIL with it.
        self.bridge.note_failure(trial.trial_id, error_reason(trial))

    def debug_string(self) -> str:
        return f"Optuna pruning with {type(self.bridge.study.pruner).__name__}."


def error_reason(trial: Trial) -> str:
    """One line saying why ``trial`` errored, read from the exception Ray pickled in the trial's folder.

    Ray keeps the exception only in that file (``Trial.pickled_error_file``); a ``RayTaskError``
    wraps what the trainable raised in ``.cause``.
    """
    path = trial.pickled_error_file
    if path is None or not Path(path).exists():
        return f"the trial raised an error (see {trial.error_file})"
    error = ray.cloudpickle.loads(Path(path).read_bytes())
    cause = getattr(error, "cause", None) or error
    lines = [line for line in str(cause).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    # A TrialError already starts with the original "<type>: <message>".
    return (first if isinstance(cause, TrialError) else f"{type(cause).__name__}: {first}")[:500]
