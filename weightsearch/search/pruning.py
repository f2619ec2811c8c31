"""Optuna's pruner as a Ray Tune scheduler: every result becomes an intermediate value in the study.

Ray's ``OptunaSearch`` hardcodes ``NopPruner`` and Ray's own schedulers (ASHA, median stopping)
keep their state in driver memory, lost on resume. Here the pruner is the study's own: it decides
from the intermediate values stored in the RDB, so after a resume it sees every earlier one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray.cloudpickle
from optuna.study import StudyDirection
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from weightsearch.contracts import RESULT_STEP
from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.trainable import TrialError

if TYPE_CHECKING:
    from ray.tune.experiment import Trial


class OptunaPruningScheduler(FIFOScheduler):
    """Report the objective at each result's ``step`` and STOP the trials the study's pruner prunes.

    Ray passes its ``TuneController`` as the first argument of every hook; it is not used here
    (typed ``object``, so this module imports nothing from Ray's private ``execution`` package).
    """

    def __init__(self, bridge: OptunaBridge) -> None:
        super().__init__()
        self.bridge = bridge
        if not bridge.multi_objective:
            # Ray then checks that every result carries the objective (the public ``metric`` property).
            mode = "min" if bridge.study.directions[0] == StudyDirection.MINIMIZE else "max"
            self.set_search_properties(bridge.metrics[0], mode)

    def on_trial_result(self, tune_controller: object, trial: Trial, result: dict[str, Any]) -> str:
        if self.bridge.multi_objective:
            return TrialScheduler.CONTINUE
        value = result[self.bridge.metrics[0]]
        pruned = self.bridge.report(trial.trial_id, value, int(result[RESULT_STEP]))
        return TrialScheduler.STOP if pruned else TrialScheduler.CONTINUE

    def on_trial_error(self, tune_controller: object, trial: Trial) -> None:
        # Ray hands the error to the scheduler only; the searcher, called next, tells FAIL with it.
        self.bridge.note_failure(trial.trial_id, error_reason(trial))

    def debug_string(self) -> str:
        return f"Optuna pruning with {type(self.bridge.study.pruner).__name__}."


def error_reason(trial: Trial) -> str:
    """One line saying why ``trial`` errored, read from the exception Ray pickled in the trial's folder.

    A ``RayTaskError`` wraps what the trainable raised in ``.cause``. Not a public API, on purpose:
    no hook Ray calls on an error (scheduler, searcher, callback) is given the exception, and Ray
    keeps it only in that file, ``Trial.pickled_error_file`` (a property of the DeveloperAPI
    ``Trial``, written by ``Trial.handle_error`` before the hooks run). ``Trial.get_pickled_error()``
    reads the copy in the storage path, which is synced later, so it is still missing here.
    tests/test_private_apis.py fails on a Ray upgrade that changes this.
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
