"""The pieces of a resume on a real SQLite study: adopting unfinished trials, finding checkpoints, storage retries."""

from __future__ import annotations

import os
import signal
import time
import warnings

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
    # The earlier intermediate value stays; a repeated step is ignored (quietly), a later one added.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
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


def _spec_file(tmp_path, name: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\n"
        "objective: {metric: val/main/mse, mode: min}\n"
        "trial: {model: 'sweep_plugins:build', steps: 20, eval_every: 10, batch_size: 8}\n"
        f"space: {SPACE}\n"
        "budget: {num_samples: 2}\n"
        f"storage: {{path: {tmp_path / 'runs'}}}\n"
    )
    return path


def test_resume_with_an_unreachable_ray_address_exits_2_and_leaves_the_sweep_untouched(tmp_path, capsys):
    from weightsearch.cli import main
    from weightsearch.config import load_spec, spec_to_yaml

    spec_file = _spec_file(tmp_path, "untouched")
    spec = load_spec(spec_file)
    spec.paths.dir.mkdir(parents=True)
    spec.paths.spec_file.write_text(spec_to_yaml(spec))
    optuna.create_study(storage=spec.optuna_url, study_name=spec.name, directions=spec.directions)
    before = {path: path.read_bytes() for path in spec.paths.dir.rglob("*") if path.is_file()}

    code = main(
        [
            "resume",
            "untouched",
            "--storage-path",
            str(tmp_path / "runs"),
            "--num-samples",
            "5",
            "--ray-address",
            "127.0.0.1:9",
        ]
    )
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1 and "spec field 'ray.address'" in error, error
    assert {path: path.read_bytes() for path in spec.paths.dir.rglob("*") if path.is_file()} == before


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_first_interrupt_asks_for_a_graceful_stop_and_the_second_stops_at_once(tmp_path, capfd, monkeypatch, first):
    from weightsearch.cli.sweep import _graceful_interrupts
    from weightsearch.config import load_spec
    from weightsearch.search import interrupt

    spec_file = _spec_file(tmp_path, "stopping")
    spec = load_spec(spec_file)
    monkeypatch.setenv("TUNE_DISABLE_SIGINT_HANDLER", "0")  # restored after the test (the CLI sets it to 1)
    # What the process had before (SIG_DFL, or Ray's own handler once an in-process Ray started).
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        with _graceful_interrupts(spec):
            os.kill(os.getpid(), first)
            time.sleep(0.1)  # the handler runs in the main thread, between two bytecodes
            assert interrupt.stop_requested() and interrupt.InterruptStopper().stop_all()
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT if first == signal.SIGTERM else signal.SIGTERM)
                time.sleep(1.0)
        message = capfd.readouterr().err
        assert f"{first.name}: sweep stopping stops launching trials" in message
        assert f"`weightsearch resume stopping --storage-path {tmp_path / 'runs'}`" in message
        assert {number: signal.getsignal(number) for number in handlers} == handlers
    finally:
        interrupt._requested.clear()  # the request is process-wide: later sweeps of this test process must run
