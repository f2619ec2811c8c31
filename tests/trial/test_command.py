"""`weightsearch train` end to end, in a subprocess as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_train(*arguments: str) -> subprocess.CompletedProcess:
    # tests/trial on the path for the trial_plugins fixtures; one thread, as tiny models prefer.
    python_path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": python_path, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "weightsearch.cli", "train", *arguments],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plugin_example_trains_and_prints_the_metrics_table(tmp_path):
    result = run_train("examples/plugin_trial.yaml", "--steps", "100", "--device", "cpu", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ("final metrics", "train/loss/total", "train/weight/region", "val/position/mse", "time/train_s"):
        assert name in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["step"] == 100.0 and metrics["train/weight/region"] == pytest.approx(0.5)
    assert sorted(path.name for path in (tmp_path / "checkpoints").iterdir()) == ["step_0000100"]


def test_json_format_prints_the_final_metrics_on_stdout(tmp_path):
    config = tmp_path / "trial.yaml"
    config.write_text('model: "examples.plugin_model:build"\nsteps: 30\neval_every: 15\ndevice: cpu\n')
    result = run_train(str(config), "--format", "json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["step"] == 30.0 and "val/region/accuracy" in metrics


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr: -1\n", "weightsearch train: error: trial config '"),
        (
            'model: "examples.plugin_model:build"\nstrategy: magic\nsteps: 5\neval_every: 5\ndevice: cpu\n',
            "weightsearch train: error: trial config field 'strategy': unknown strategy 'magic'",
        ),
    ],
)
def test_bad_config_exits_2_with_one_line_and_no_traceback(tmp_path, text, expected):
    config = tmp_path / "trial.yaml"
    config.write_text(text)
    result = run_train(str(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(expected)
    assert "'lr': must be > 0" in result.stderr or "strategy" in expected
    assert result.stdout == ""


def test_nan_loss_exits_1_with_one_line(tmp_path):
    config = tmp_path / "trial.yaml"
    config.write_text(
        'model: "trial_plugins:build_nan"\noptions: {task: position, step: 3}\nsteps: 10\neval_every: 5\ndevice: cpu\n'
    )
    result = run_train(str(config))
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == "weightsearch train: failed: non-finite loss for task 'position' at step 3: nan"
    assert "Traceback" not in result.stderr


def test_reference_example_trains_through_the_cli():
    result = run_train("examples/reference_trial.yaml", "--steps", "100", "--device", "cpu", "--format", "json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    for name in ("val/action/mse", "val/align/recall_at_1", "train/weight/recon_token", "train/loss/total"):
        assert name in metrics



def test_fewer_steps_than_the_evaluation_interval_still_train_and_report(tmp_path):
    # examples/plugin_trial.yaml evaluates every 100 steps; 20 steps evaluate at the end.
    result = run_train("examples/plugin_trial.yaml", "--steps", "20", "--device", "cpu", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["step"] == 20.0
