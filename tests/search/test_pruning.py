"""The pruning scheduler's contract with Ray, through Ray's public scheduler API."""

from __future__ import annotations

import optuna

from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.pruning import OptunaPruningScheduler

METRIC = "val/main/mse"


def test_the_scheduler_names_the_objective_through_set_search_properties(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="pruning")
    scheduler = OptunaPruningScheduler(OptunaBridge(study, [METRIC]))
    assert scheduler.metric == METRIC
    # Tune passes the TuneConfig's metric (none here) later: the scheduler keeps its own.
    assert scheduler.set_search_properties(None, None) and scheduler.metric == METRIC
