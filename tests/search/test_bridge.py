"""The Optuna bridge on a real SQLite study: report/prune, complete, fail, budget stops, grid exhaustion."""

from __future__ import annotations

import math
import time
import warnings

import optuna
import pytest
from optuna.exceptions import StorageInternalError
from optuna.trial import TrialState

from weightsearch.search import bridge as bridge_module
from weightsearch.search.bridge import OptunaBridge, StorageUnavailable

METRIC = "val/main/mse"
# What one bridge call may block Ray's driver loop for while the storage fails (3 tries, 10 + 20 ms apart).
DRIVER_STALL_LIMIT_S = 0.2


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


class Outage:
    """Makes the trial writes of an RDBStorage fail with ``StorageInternalError`` while ``down``."""

    WRITES = ("set_trial_intermediate_value", "set_trial_user_attr", "set_trial_state_values")

    def __init__(self, storage: optuna.storages.RDBStorage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        self.calls = 0
        for name in self.WRITES:
            monkeypatch.setattr(storage, name, self._guard(getattr(storage, name)))

    def _guard(self, method):
        def guarded(*args, **kwargs):
            self.calls += 1
            if self.down:
                raise StorageInternalError("database is locked")
            return method(*args, **kwargs)

        return guarded


@pytest.fixture
def outage_bridge(tmp_path, monkeypatch):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(storage=storage, study_name="outage", pruner=optuna.pruners.NopPruner())
    return OptunaBridge(study, [METRIC]), Outage(storage, monkeypatch)


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started

def test_a_step_reported_again_keeps_its_first_value_without_optunas_warning(tmp_path):
    """A retried or resumed trial re-reports the steps after its checkpoint: the first value stays, quietly."""
    study = _study(tmp_path, optuna.pruners.NopPruner())
    bridge = OptunaBridge(study, [METRIC])
    bridge.ask("a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna's "already reported" UserWarning would fail here
        bridge.report("a", 1.0, 10)
        bridge.report("a", 9.0, 10)
        bridge.report("a", 0.5, 20)
        resumed = OptunaBridge(optuna.load_study(study_name="bridge", storage=f"sqlite:///{tmp_path / 'optuna.db'}"),
                               [METRIC])
        resumed.adopt("a-resumed", 0)
        resumed.report("a-resumed", 7.0, 20)
        resumed.report("a-resumed", 0.25, 30)
    assert study.trials[0].intermediate_values == {10: 1.0, 20: 0.5, 30: 0.25}



def test_writes_during_an_outage_are_kept_in_order_without_stalling_the_driver_loop(outage_bridge, monkeypatch):
    bridge, outage = outage_bridge
    monkeypatch.setattr(bridge_module, "KEPT_RETRY_FIRST_S", 0.0)
    bridge.ask("a")
    bridge.ask("b")
    outage.down = True
    stalls = [
        _timed(lambda: bridge.report("a", 2.0, 1))[1],
        _timed(lambda: bridge.report("a", 1.0, 2))[1],
        _timed(lambda: bridge.complete("a", {METRIC: 1.0}))[1],
        _timed(lambda: bridge.fail("b", "broken"))[1],
    ]
    assert max(stalls) < DRIVER_STALL_LIMIT_S
    # Ray's callbacks read the outcome at once; the study gets it when the storage is back.
    assert bridge.outcomes.get("a").state == "COMPLETE" and bridge.outcomes.get("b").state == "FAIL"
    assert [trial.state for trial in bridge.study.trials] == [TrialState.RUNNING, TrialState.RUNNING]
    assert not bridge.retry_kept_writes()

    outage.down = False
    assert bridge.retry_kept_writes()
    first, second = bridge.study.trials
    assert first.state == TrialState.COMPLETE and first.value == 1.0 and first.intermediate_values == {1: 2.0, 2: 1.0}
    assert second.state == TrialState.FAIL and second.user_attrs["fail_reason"] == "broken"


def test_kept_writes_wait_for_their_backoff_and_keep_later_writes_behind_them(outage_bridge):
    bridge, outage = outage_bridge
    bridge.ask("a")
    outage.down = True
    bridge.report("a", 2.0, 1)
    outage.down = False
    # The storage is back, but the kept write is not due yet: a new write queues behind it, in order.
    bridge.report("a", 1.0, 2)
    assert bridge.study.trials[0].intermediate_values == {}
    calls = outage.calls
    assert not bridge.retry_kept_writes() and outage.calls == calls  # not due: no storage call at all
    bridge.flush()
    assert bridge.study.trials[0].intermediate_values == {1: 2.0, 2: 1.0}


def test_an_outage_longer_than_the_give_up_time_ends_the_sweep_with_the_storage_error(outage_bridge, monkeypatch):
    bridge, outage = outage_bridge
    monkeypatch.setattr(bridge_module, "KEPT_RETRY_FIRST_S", 0.0)
    monkeypatch.setattr(bridge_module, "KEPT_GIVE_UP_S", 0.05)
    bridge.ask("a")
    outage.down = True
    bridge.report("a", 2.0, 1)
    assert not bridge.retry_kept_writes()
    time.sleep(0.1)
    with pytest.raises(StorageInternalError):
        bridge.retry_kept_writes()


def test_a_new_trial_during_an_outage_is_refused_quickly(tmp_path, monkeypatch):
    bridge = OptunaBridge(_study(tmp_path, optuna.pruners.NopPruner()), [METRIC])
    ask = bridge.study.ask

    def locked():
        raise StorageInternalError("database is locked")

    monkeypatch.setattr(bridge.study, "ask", locked)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="cannot create a trial"):
        bridge.ask("a")
    assert time.monotonic() - started < DRIVER_STALL_LIMIT_S
    assert bridge.links() == {}
    monkeypatch.setattr(bridge.study, "ask", ask)
    assert bridge.ask("a").number == 0


def test_a_failing_pruning_decision_lets_the_trial_go_on(tmp_path, monkeypatch):
    study = _study(tmp_path, optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=0))
    bridge = OptunaBridge(study, [METRIC])
    trial = bridge.ask("a")

    def locked():
        raise StorageInternalError("database is locked")

    monkeypatch.setattr(trial, "should_prune", locked)
    pruned, stall = _timed(lambda: bridge.report("a", 1.0, 1))
    assert not pruned and stall < DRIVER_STALL_LIMIT_S
    assert bridge.study.trials[0].intermediate_values == {1: 1.0}


def test_a_sampler_raising_after_the_tell_landed_is_logged_not_raised(tmp_path, caplog):
    class Raising(optuna.samplers.RandomSampler):
        def after_trial(self, study, trial, state, values):
            raise RuntimeError("post-processing broke")

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="raising", sampler=Raising())
    bridge = OptunaBridge(study, [METRIC])
    bridge.ask("a")
    bridge.complete("a", {METRIC: 1.0})
    assert study.trials[0].state == TrialState.COMPLETE
    assert "post-processing broke" in caplog.text
