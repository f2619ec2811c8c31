"""The e2e tests' small CLI sweeps: a spec of the slowed tiny model, the CLI as a process, and waits on its study."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import optuna
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# The CLI's Ray workers import the test models (`resume_plugins`, which wraps `sweep_plugins`) from here.
PYTHONPATH = os.pathsep.join([str(REPO_ROOT / "tests" / "e2e"), str(REPO_ROOT / "tests" / "search"), str(REPO_ROOT)])
STEPS, EVAL_EVERY = 60, 10
OBJECTIVE = "val/main/mse"
LR_SPACE = {"parameters": {"lr": {"float": [1.0e-3, 1.0e-2], "log": True}}}
TPE = {"name": "tpe", "seed": 0, "options": {"n_startup_trials": 2}}
QUICKSTART = REPO_ROOT / "search_spaces" / "quickstart.yaml"
# The quickstart, shrunk: 8 trials of 120 steps, and a pruner that acts in them: the calibration gate opens
# after 3 finished trials whatever their ranking (min_rho -1), and the 25th-percentile pruner then stops most.
SHRINK = [
    "--num-samples", "8",
    "--set", "trial.steps=120",
    "--set", "trial.eval_every=20",
    "--set", "pruner.name=percentile",
    "--set", "pruner.options={percentile: 25, n_startup_trials: 1, n_warmup_steps: 40}",
    "--set", "pruner.calibrate={min_complete: 3, min_rho: -1}",
    "--set", "sampler.options.n_startup_trials=3",
]


def write_spec(
    tmp_path: Path,
    name: str,
    *,
    num_samples: int,
    space: dict,
    sampler: dict,
    options: dict,
    steps: int = STEPS,
    pruner: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """A sweep spec of ``resume_plugins:build`` under ``tmp_path/runs`` (``extra``: more top-level fields)."""
    spec = {
        "name": name,
        "objective": {"metric": OBJECTIVE, "mode": "min"},
        "trial": {
            "model": "resume_plugins:build",
            "options": options,
            "steps": steps,
            "eval_every": EVAL_EVERY,
            "batch_size": 8,
            "diagnostics": False,
        },
        "space": space,
        "sampler": sampler,
        "pruner": pruner or {"name": "none"},
        "budget": {"num_samples": num_samples, "max_concurrent": 2, "max_retries": 1},
        "resources": {"cpu": 1, "gpu": 0},
        "storage": {"path": str(tmp_path / "runs")},
        **(extra or {}),
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def start(*arguments: str) -> subprocess.Popen:
    """``weightsearch ARGUMENTS`` as a process in a session of its own (so its whole tree can be killed)."""
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    command = [sys.executable, "-m", "weightsearch.cli", *arguments]
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def weightsearch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``weightsearch ARGS`` run to its end in ``cwd`` (stdout and stderr captured)."""
    return subprocess.run(
        [sys.executable, "-m", "weightsearch.cli", *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=400,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def load(tmp_path: Path, name: str) -> optuna.Study | None:
    """The sweep's study once it exists, else None."""
    # Opening a SQLite study creates its tables: only once the sweep has (Ray's folder comes after the study).
    if not (tmp_path / "runs" / name / "ray").exists():
        return None
    try:
        return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'runs' / name / 'optuna.db'}")
    except Exception:  # noqa: BLE001 - not created yet, or created this instant
        return None


def wait_for(
    tmp_path: Path,
    name: str,
    condition: Callable[[Sequence[optuna.trial.FrozenTrial]], bool],
    process: subprocess.Popen,
    timeout: float = 300,
) -> None:
    """Poll the study until ``condition(trials)`` holds; fail if ``process`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-3000:]
        study = load(tmp_path, name)
        if study is not None and condition(study.get_trials(deepcopy=False)):
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for the sweep {name}")


def running_with_values(trials: Sequence[optuna.trial.FrozenTrial]) -> bool:
    return any(t.state.name == "RUNNING" and t.intermediate_values for t in trials)


def finished(count: int) -> Callable[[Sequence[optuna.trial.FrozenTrial]], bool]:
    return lambda trials: sum(t.state.is_finished() for t in trials) >= count and running_with_values(trials)
