"""search_spaces/metaworld.yaml through the command line, shrunk to one short trial: real Ray and Optuna."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_one_trial_metaworld_sweep_completes_with_a_success_rate(tmp_path):
    shrink = {
        "trial.options.tasks": "[reach-v3]",
        "trial.options.episodes": "2",
        "trial.options.image_size": "32",
        "trial.options.horizon": "60",
        "trial.options.eval_episodes": "1",
        "trial.options.steps": "4",
        "trial.options.cache_dir": str(tmp_path / "cache"),
        "trial.steps": "4",
        "trial.eval_every": "2",
        "trial.batch_size": "8",
    }
    overrides = [argument for key, value in shrink.items() for argument in ("--set", f"{key}={value}")]
    command = [
        sys.executable, "-m", "weightsearch.cli", "run", str(REPO_ROOT / "search_spaces" / "metaworld.yaml"),
        "--storage-path", str(tmp_path / "runs"), "--num-samples", "1", "--max-concurrent", "1", *overrides,
    ]
    # Ray workers import weightsearch from the repository, as a user's checkout would after `pip install -e .`.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]

    storage = f"sqlite:///{tmp_path / 'runs' / 'metaworld' / 'optuna.db'}"
    study = optuna.load_study(study_name="metaworld", storage=storage)
    [trial] = study.trials
    assert trial.state.name == "COMPLETE"
    assert 0.0 <= trial.value <= 1.0
