"""The pieces of a resume on a real SQLite study: adopting unfinished trials, finding checkpoints, storage retries."""

from __future__ import annotations

import os
import time

import optuna
import pytest
from optuna.exceptions import StorageInternalError
from optuna.trial import TrialState
from sqlalchemy.exc import OperationalError

from weightsearch.config import TrialConfig, load_space
from weightsearch.contracts import ATTR_RESUMED_FROM as RESUMED_ATTR
from weightsearch.search import bridge as bridge_module
from weightsearch.search.bridge import OptunaBridge, with_storage_retries
from weightsearch.search.resume import last_checkpoint
from weightsearch.search.searcher import OptunaSearcher
from weightsearch.trial.checkpoint import STATE_FILE, save_checkpoint

METRIC = "val/main/mse"
SPACE = {"parameters": {"lr": {"float": [1.0e-4, 1.0], "log": True}}}


def _study(tmp_path) -> optuna.Study:
    return optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        study_name="resume",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.NopPruner(),
    )


def test_a_resumed_searcher_continues_unfinished_trials_under_their_numbers_then_asks_new_ones(tmp_path):
    study = _study(tmp_path)
    first = OptunaSearcher(OptunaBridge(study, [METRIC]), load_space(SPACE), TrialConfig())
    done, interrupted = first.suggest("a"), first.suggest("b")
    first.bridge.report("a", 0.5, 10)
    first.on_trial_complete("a", {METRIC: 0.5})
    first.bridge.report("b", 0.9, 10)  # then the driver dies: trial 1 stays RUNNING

    checkpoint = tmp_path / "trial_00001" / "checkpoint_000000"
    resumed = OptunaSearcher(OptunaBridge(study, [METRIC]), load_space(SPACE), TrialConfig(), {1: checkpoint})
    again = resumed.suggest("c")
    assert again["trial_number"] == 1 and again["params"] == interrupted["params"]
    assert again["resume_from"] == str(checkpoint)
    fresh = resumed.suggest("d")
    assert fresh["trial_number"] == 2 and fresh["resume_from"] is None
    # The earlier intermediate value stays; a repeated step is ignored, a later one added.
    with pytest.warns(UserWarning, match="already reported"):
        resumed.bridge.report("c", 7.0, 10)
    resumed.bridge.report("c", 0.4, 20)
    resumed.on_trial_complete("c", {METRIC: 0.4})

    trials = optuna.load_study(study_name="resume", storage=f"sqlite:///{tmp_path / 'optuna.db'}").trials
    assert [trial.state for trial in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.RUNNING]
    assert trials[1].intermediate_values == {10: 0.9, 20: 0.4} and trials[1].value == 0.4
    assert trials[1].user_attrs[RESUMED_ATTR] == [str(checkpoint)]
    assert done["trial_number"] == 0 and trials[0].value == 0.5


def test_only_running_trials_can_be_adopted(tmp_path):
    study = _study(tmp_path)
    bridge = OptunaBridge(study, [METRIC])
    bridge.ask("a")
    bridge.complete("a", {METRIC: 1.0})
    with pytest.raises(ValueError, match="COMPLETE"):
        OptunaBridge(study, [METRIC]).adopt("b", 0)


def _checkpoint(tmp_path, folder: str, step: int, age_s: float):
    """A trainer checkpoint at ``tmp_path/folder`` (as Ray stores it), last written ``age_s`` ago."""
    made = save_checkpoint(tmp_path / ".staging", step, {"step": step})
    path = tmp_path / folder
    path.parent.mkdir(parents=True, exist_ok=True)
    made.rename(path)
    written = time.time() - age_s
    os.utime(path / STATE_FILE, (written, written))
    return path


def test_last_checkpoint_is_the_newest_that_loads_in_any_folder_of_the_trial(tmp_path):
    assert last_checkpoint(tmp_path, 3) is None
    _checkpoint(tmp_path, "trial_00003/checkpoint_000001", 20, age_s=60)
    newer = _checkpoint(tmp_path, "trial_00003_7f3a_00001/checkpoint_000000", 40, age_s=30)
    _checkpoint(tmp_path, "trial_00004/checkpoint_000000", 60, age_s=0)
    # The driver died while Ray copied the next checkpoint: it is newer, but cut short.
    truncated = tmp_path / "trial_00003_7f3a_00001" / "checkpoint_000001"
    truncated.mkdir()
    (truncated / STATE_FILE).write_bytes(b"PK\x03\x04 cut short")
    assert last_checkpoint(tmp_path, 3) == newer


def test_storage_calls_are_retried_with_backoff_then_raise(monkeypatch):
    monkeypatch.setattr(bridge_module, "STORAGE_FIRST_DELAY_S", 0.01)
    failures = [StorageInternalError("database is locked"), OperationalError("SELECT 1", {}, Exception("locked"))]

    def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "done"

    assert with_storage_retries(flaky) == "done" and not failures

    calls = []

    def down() -> None:
        calls.append(time.monotonic())
        raise StorageInternalError("unreachable")

    with pytest.raises(StorageInternalError):
        with_storage_retries(down)
    assert len(calls) == bridge_module.STORAGE_ATTEMPTS
    gaps = [later - earlier for earlier, later in zip(calls, calls[1:])]
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:]))
