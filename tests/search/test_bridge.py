"""The Optuna bridge on a real SQLite study: report/prune, complete, fail, budget stops, grid exhaustion."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from weightsearch.search.bridge import OptunaBridge

METRIC = "val/main/mse"


def _study(tmp_path, pruner: optuna.pruners.BasePruner, directions=("minimize",)) -> optuna.Study:
    return optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="bridge", directions=list(directions), pruner=pruner
    )


def _finish(bridge: OptunaBridge, ray_id: str, values: list[float]) -> None:
    bridge.ask(ray_id)
    for step, value in enumerate(values, start=1):
        assert not bridge.report(ray_id, value, step)
    bridge.complete(ray_id, {METRIC: values[-1]})


def test_pruned_trial_keeps_its_intermediate_values_and_is_not_completed_later(tmp_path):
    study = _study(tmp_path, optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    bridge = OptunaBridge(study, [METRIC])
    _finish(bridge, "a", [1.0, 0.5])
    _finish(bridge, "b", [1.2, 0.6])
    bridge.ask("c")
    assert bridge.report("c", 5.0, 1)
    # Ray then calls the searcher's on_trial_complete with the last result: it must change nothing.
    bridge.complete("c", {METRIC: 5.0})

    trials = optuna.load_study(study_name="bridge", storage=f"sqlite:///{tmp_path / 'optuna.db'}").trials
    assert [trial.state for trial in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert trials[0].intermediate_values == {1: 1.0, 2: 0.5} and trials[0].value == 0.5
    assert trials[2].intermediate_values == {1: 5.0}
    assert bridge.outcomes.get("c").state == "PRUNED" and bridge.outcomes.get("c").number == 2


def test_fail_records_the_reason_noted_by_the_scheduler(tmp_path):
    bridge = OptunaBridge(_study(tmp_path, optuna.pruners.NopPruner()), [METRIC])
    bridge.ask("a")
    bridge.note_failure("a", "NonFiniteLossError: non-finite loss for task 'aux' at step 3: nan")
    bridge.fail("a")
    trial = bridge.study.trials[0]
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["fail_reason"].startswith("NonFiniteLossError")
    assert bridge.outcomes.get("a").reason == trial.user_attrs["fail_reason"]


@pytest.mark.parametrize("result", [None, {}, {METRIC: math.nan}])
def test_a_final_result_without_a_finite_objective_fails(tmp_path, result):
    bridge = OptunaBridge(_study(tmp_path, optuna.pruners.NopPruner()), [METRIC])
    bridge.ask("a")
    bridge.complete("a", result)
    assert bridge.study.trials[0].state == TrialState.FAIL
    assert METRIC in bridge.study.trials[0].user_attrs["fail_reason"]


def test_multi_objective_completes_with_every_value_and_never_prunes(tmp_path):
    study = _study(tmp_path, optuna.pruners.NopPruner(), directions=("minimize", "maximize"))
    bridge = OptunaBridge(study, [METRIC, "val/aux/score"])
    bridge.ask("a")
    assert not bridge.report("a", 1.0, 1)
    bridge.complete("a", {METRIC: 0.5, "val/aux/score": 0.9})
    assert study.trials[0].values == [0.5, 0.9] and study.trials[0].intermediate_values == {}


def test_budget_stop_prunes_running_trials_only(tmp_path):
    bridge = OptunaBridge(_study(tmp_path, optuna.pruners.NopPruner()), [METRIC])
    _finish(bridge, "done", [1.0])
    bridge.ask("cut")
    bridge.report("cut", 2.0, 1)
    assert bridge.running_ids() == ["cut"]
    bridge.prune("cut", "time budget")
    states = [trial.state for trial in bridge.study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED]
    assert bridge.study.trials[1].user_attrs["stop_reason"] == "time budget"


def test_a_grid_sampler_running_out_of_points_does_not_break_the_tell(tmp_path):
    # GridSampler calls study.stop() after the last grid point, which raises outside study.optimize.
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="grid",
        sampler=optuna.samplers.GridSampler({"x": [0, 1]}),
    )
    bridge = OptunaBridge(study, [METRIC])
    for ray_id in ("a", "b"):
        bridge.ask(ray_id).suggest_categorical("x", [0, 1])
        bridge.complete(ray_id, {METRIC: 1.0})
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert sorted(trial.params["x"] for trial in study.trials) == [0, 1]


def test_backfill_restores_a_lost_report_and_never_overwrites(tmp_path):
    bridge = OptunaBridge(_study(tmp_path, optuna.pruners.NopPruner()), [METRIC])
    number = bridge.ask("a").number
    bridge.report("a", 1.0, 10)
    bridge.backfill(number, 0.5, 20)  # the report the killed driver never stored
    bridge.backfill(number, 9.0, 10)  # already there: kept as first reported
    assert bridge.study.trials[0].intermediate_values == {10: 1.0, 20: 0.5}
