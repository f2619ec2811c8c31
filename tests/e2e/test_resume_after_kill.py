"""Interrupted sweeps continue with nothing lost or duplicated: real CLI processes, real signals, real Ray/Optuna/MLflow.

The interrupted sweep also shows that a local sweep's Ray listens on loopback only (read from /proc while it runs).
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import optuna
import pytest
from cli_sweeps import EVAL_EVERY, LR_SPACE, STEPS, TPE, finish, finished, running_with_values, start, wait_for
from cli_sweeps import load as _study
from cli_sweeps import write_spec as _spec
from listening import is_loopback, listening_sockets
from mlflow.tracking import MlflowClient
from stores import assert_stores_agree

from benchmarks.common import kill_process_tree
from weightsearch.tracking import names
from weightsearch.tracking.spool import Spool

pytestmark = pytest.mark.e2e


def _check_complete(tmp_path: Path, name: str, num_samples: int) -> optuna.Study:
    study = _study(tmp_path, name)
    states = [trial.state.name for trial in study.trials]
    assert states.count("RUNNING") == 0, states
    assert len(states) == num_samples and set(states) == {"COMPLETE"}, states
    assert [trial.number for trial in study.trials] == list(range(num_samples))
    return study


def _first_steps_after_resume(tmp_path: Path, name: str, number: int) -> list[int]:
    """The first step each run of trial ``number`` continued from a checkpoint reported (folders ``trial_<number>_<ray id>``)."""
    experiment = tmp_path / "runs" / name / "ray" / name
    firsts = []
    for folder in sorted(experiment.glob(f"trial_{number:05d}_*")):
        lines = (folder / "result.json").read_text().splitlines() if (folder / "result.json").exists() else []
        if lines:
            firsts.append(int(json.loads(lines[0])["step"]))
    return firsts


def _child_runs_per_trial(tmp_path: Path, name: str) -> dict[str, int]:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'runs' / name / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`weightsearch.kind` = 'trial'")
    counts: dict[str, int] = {}
    for run in runs:
        number = run.data.tags["optuna.trial_number"]
        counts[number] = counts.get(number, 0) + 1
    return counts


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_stops_gracefully_and_resumes_and_a_failing_trial_ends_fail_after_its_retry(tmp_path, stop_signal):
    name = "interrupted"
    # Seed 0 draws 3 then None: trial 0 hits a NaN loss at step 3 every time it runs, trial 1 never.
    space = {"parameters": {"options.nan_at_step": {"choice": [None, 3]}}}
    random = {"name": "random", "seed": 0}
    spec = _spec(tmp_path, name, num_samples=3, space=space, sampler=random, options={"step_sleep_s": 0.05})
    storage = str(tmp_path / "runs")
    run = start("run", str(spec))
    wait_for(tmp_path, name, running_with_values, run)
    listening: set[tuple[int, str, str, int]] = set()
    for _ in range(3):  # while trials run (workers and agents come and go: look a few times)
        listening |= set(listening_sockets(run.pid))
        time.sleep(0.5)
    run.send_signal(stop_signal)
    code, stdout, stderr = finish(run, timeout=120)
    resume_command = f"`weightsearch resume {name} --storage-path {storage}`"
    assert code == 130, stderr[-3000:]
    _assert_ray_on_loopback_only(tmp_path, name, listening, stderr)
    assert f"{stop_signal.name}: sweep {name} stops launching trials; the running ones stop now" in stderr, stderr
    assert f"sweep {name} stopped; continue it with {resume_command}" in stdout.splitlines()[-1], stdout
    # No stack dump, and not Ray's advice to restore its own snapshot.
    assert "Traceback" not in stderr and "Tuner.restore" not in stdout + stderr, stderr[-3000:]
    assert any(t.state.name == "RUNNING" for t in _study(tmp_path, name).trials)
    # Both stores were ended cleanly: the trials left RUNNING are RUNNING in MLflow, the others closed.
    assert_stores_agree(tmp_path / "runs" / name, name, "val/main/mse")
    if stop_signal != signal.SIGINT:
        return  # what follows does not depend on the signal: once is enough

    # The resume finishes the interrupted trials and, with a larger --num-samples, adds one.
    code, stdout, stderr = finish(start("resume", name, "--storage-path", storage, "--num-samples", "4"))
    assert code == 0, stderr[-3000:]
    trials = _study(tmp_path, name).trials
    assert len(trials) == 4 and all(trial.state.is_finished() for trial in trials)
    assert _child_runs_per_trial(tmp_path, name) == {str(number): 1 for number in range(4)}
    experiment = tmp_path / "runs" / name / "ray" / name
    for trial in trials:
        poisoned = trial.user_attrs["params"]["options.nan_at_step"] == 3
        assert trial.state.name == ("FAIL" if poisoned else "COMPLETE"), (trial.number, trial.state)
        if poisoned:
            assert "NonFiniteLossError" in trial.user_attrs["fail_reason"], trial.user_attrs
            # max_retries=1: Ray appended the failure and its retry's (more if a resume ran it again).
            errors = (experiment / f"trial_{trial.number:05d}" / "error.txt").read_text()
            assert errors.count("Failure #") >= 2, errors[-2000:]
    assert [trial.state.name for trial in trials[:2]] == ["FAIL", "COMPLETE"]
    assert trials[0].user_attrs["retries"] >= 1  # and the MLflow run says the same:
    assert_stores_agree(tmp_path / "runs" / name, name, "val/main/mse")


def test_sigkill_while_only_the_last_trial_runs_then_resume(tmp_path):
    name = "nearly_done"
    num_samples = 3
    # 0.1 s a step: the last trial runs ~6 s, a window wide enough to kill it between its first report and its end.
    spec = _spec(tmp_path, name, num_samples=num_samples, space=LR_SPACE, sampler=TPE, options={"step_sleep_s": 0.1})
    storage = str(tmp_path / "runs")

    run = start("run", str(spec))
    wait_for(tmp_path, name, finished(num_samples - 1), run)
    kill_process_tree(run)
    trials = _study(tmp_path, name).trials
    before = {t.number: t.value for t in trials if t.state.name == "COMPLETE"}
    unfinished = [t.number for t in trials if t.state.name == "RUNNING"]
    assert len(before) == num_samples - 1 and len(unfinished) == 1, [t.state.name for t in trials]
    _as_if_killed_before_the_mlflow_end(tmp_path, name, min(before))

    code, stdout, stderr = finish(start("resume", name, "--storage-path", storage))
    assert code == 0, stderr[-3000:]
    # The progress table counts the study's trials (those finished before the resume too), as the summary does.
    rows = [line.split() for line in stdout.splitlines() if re.match(r"\s*\d\d:\d\d:\d\d\s", line)]
    assert rows and rows[-1][3] == str(num_samples), stdout
    study = _check_complete(tmp_path, name, num_samples)
    assert {number: study.trials[number].value for number in before} == before
    assert sorted(study.trials[unfinished[0]].intermediate_values) == list(range(EVAL_EVERY, STEPS + 1, EVAL_EVERY))
    assert _child_runs_per_trial(tmp_path, name) == {str(number): 1 for number in range(num_samples)}
    resumed_from = study.trials[unfinished[0]].user_attrs["resumed_from"]
    if resumed_from[-1] != "scratch":  # continued from its checkpoint: its last run's first report is past step 1
        assert _first_steps_after_resume(tmp_path, name, unfinished[0])[-1] > EVAL_EVERY, resumed_from
    # The trial the kill left RUNNING in MLflow (never run again: it is COMPLETE) was put right by the resume.
    assert_stores_agree(tmp_path / "runs" / name, name, "val/main/mse")



def _assert_ray_on_loopback_only(tmp_path: Path, name: str, listening: set[tuple[int, str, str, int]], stderr: str) -> None:
    """A local sweep's Ray listens on loopback only (every listening socket of the sweep's process tree), keeps
    token authentication without advising to turn it off, and its parent run records a loopback address."""
    commands = {command for _, command, _, _ in listening}
    assert {"gcs_server", "raylet"} <= commands and any(command.startswith("ray::") for command in commands), listening
    exposed = sorted(entry for entry in listening if not is_loopback(entry[2]))
    assert exposed == [], exposed
    assert "RAY_AUTH_MODE" not in stderr, stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / name / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    [parent] = client.search_runs([experiment.experiment_id], f"tags.`{names.KIND}` = 'sweep'")
    host, _, port = parent.data.tags[names.RAY_ADDRESS].rpartition(":")
    assert is_loopback(host) and port.isdigit(), parent.data.tags[names.RAY_ADDRESS]


def _as_if_killed_before_the_mlflow_end(tmp_path: Path, name: str, number: int) -> None:
    """Leave trial ``number`` (COMPLETE in the study) as a kill between the Optuna tell and the MLflow end
    does: its run RUNNING, and no end of it in the spool for a resume to replay."""
    run_dir = tmp_path / "runs" / name
    spool = Spool(run_dir / "tracking" / "spool.jsonl")
    kept = [op for op in spool.read() if not (op["op"] == "trial_end" and op.get("number") == number)]
    spool.clear()
    for operation in kept:
        spool.append(operation)
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    [run] = client.search_runs([experiment.experiment_id], f"tags.`{names.TRIAL_NUMBER}` = '{number}'")
    client.set_tag(run.info.run_id, names.TRIAL_STATE, "RUNNING")
    client.update_run(run.info.run_id, status="RUNNING")
