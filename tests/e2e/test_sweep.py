"""The quickstart sweep through the command line: real Ray, real Optuna storage, the reference VLA (shrunk)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from weightsearch.contracts import STUDY_ATTR_CALIBRATION

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
# Shorter trials, and a pruner that acts in 8 of them: the quickstart's calibration gate opens after 3
# finished trials whatever their ranking (min_rho -1), and the 25th-percentile pruner then stops most trials.
SHRINK = [
    "--set", "trial.steps=120",
    "--set", "trial.eval_every=20",
    "--set", "pruner.name=percentile",
    "--set", "pruner.options={percentile: 25, n_startup_trials: 1, n_warmup_steps: 40}",
    "--set", "pruner.calibrate={min_complete: 3, min_rho: -1}",
    "--set", "sampler.options.n_startup_trials=3",
]


def _cli(*arguments: str, timeout: float = 600) -> subprocess.CompletedProcess:
    # Ray workers import weightsearch from the repository, as a user's checkout would after `pip install -e .`.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "weightsearch.cli", *arguments]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_quickstart_prunes_completes_reports_status_and_refuses_a_rerun(tmp_path):
    quickstart = str(REPO_ROOT / "search_spaces" / "quickstart.yaml")
    storage = str(tmp_path / "runs")
    run = _cli("run", quickstart, "--storage-path", storage, "--num-samples", "8", *SHRINK)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "sweep quickstart ended" in run.stdout and "optuna-dashboard sqlite:///" in run.stdout

    url = f"sqlite:///{tmp_path / 'runs' / 'quickstart' / 'optuna.db'}"
    study = optuna.load_study(study_name="quickstart", storage=url)
    states = [trial.state.name for trial in study.trials]
    assert len(states) == 8 and {"PRUNED", "COMPLETE"} <= set(states), states
    gate = study.user_attrs[STUDY_ATTR_CALIBRATION]["steps"]
    assert any(entry["trusted"] for entry in gate.values()), gate
    for trial in study.trials:
        assert trial.user_attrs["params"]["strategy"] == trial.params["strategy"]
        assert min(trial.intermediate_values) == 20

    status = _cli("status", "quickstart", "--storage-path", storage, "--format", "json")
    assert status.returncode == 0, status.stderr
    reported = json.loads(status.stdout)
    assert reported["study"] == "quickstart" and reported["storage"] == url
    assert reported["counts"] == {state: states.count(state) for state in set(states)}
    assert reported["best"]["number"] == study.best_trial.number
    assert reported["best"]["value"] == pytest.approx(study.best_value)
    assert reported["best"]["params"] == study.best_trial.user_attrs["params"]

    again = _cli("run", quickstart, "--storage-path", storage, "--num-samples", "8", *SHRINK)
    assert again.returncode == 2
    assert "already exists" in again.stderr and "--name" in again.stderr
    assert len(optuna.load_study(study_name="quickstart", storage=url).trials) == 8
