"""The Optuna bridge on a real SQLite study: report/prune, complete, fail, budget stops and relinking."""

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


def test_relink_restores_states_and_lets_running_trials_report(tmp_path):
    study = _study(tmp_path, optuna.pruners.NopPruner())
    bridge = OptunaBridge(study, [METRIC])
    _finish(bridge, "done", [1.0])
    bridge.ask("running")
    bridge.report("running", 3.0, 1)

    restored = OptunaBridge(optuna.load_study(study_name="bridge", storage=study._storage), [METRIC])
    restored.relink(bridge.links())
    assert restored.outcomes.get("done").state == "COMPLETE"
    assert restored.running_ids() == ["running"]
    restored.report("running", 2.0, 2)
    restored.complete("running", {METRIC: 2.0})
    assert study.trials[1].intermediate_values == {1: 3.0, 2: 2.0} and study.trials[1].value == 2.0


def test_searcher_save_and_restore_carry_the_links_to_a_new_searcher(tmp_path):
    from weightsearch.search.searcher import OptunaSearcher
    from weightsearch.space import load_space
    from weightsearch.trial import TrialConfig

    space = load_space({"parameters": {"lr": {"float": [1.0e-3, 1.0e-2], "log": True}}})
    study = _study(tmp_path, optuna.pruners.NopPruner())
    searcher = OptunaSearcher(OptunaBridge(study, [METRIC]), space, TrialConfig())
    config = searcher.suggest("ray-1")
    assert config["trial_number"] == 0 and config["trial"]["lr"] == config["params"]["lr"]
    searcher.save(str(tmp_path / "searcher.json"))

    restored = OptunaSearcher(OptunaBridge(study, [METRIC]), space, TrialConfig())
    restored.restore(str(tmp_path / "searcher.json"))
    restored.on_trial_complete("ray-1", {METRIC: 0.25})
    assert study.trials[0].state == TrialState.COMPLETE and study.trials[0].value == 0.25
