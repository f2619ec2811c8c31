"""`run_sweep` and `status` end to end on a real local Ray, with the tiny `sweep_plugins` model."""

from __future__ import annotations

import argparse
import json
import time

import optuna
import pytest
import yaml

from weightsearch.cli.sweep import status_command
from weightsearch.config import load_spec
from weightsearch.errors import UserError
from weightsearch.search.budget import BUDGET_REASON
from weightsearch.search.tuner import run_sweep

SPEC = {
    "name": "tiny",
    "objective": {"metric": "val/main/mse", "mode": "min"},
    "trial": {"model": "sweep_plugins:build", "steps": 8, "eval_every": 2, "batch_size": 8, "diagnostics": False},
    "space": {
        "strategy": {"fixed": {"weights": {"simplex": ["main", "aux"], "total": 2}}, "uncertainty": None},
        "parameters": {"lr": {"float": [1.0e-4, 3.0e-1], "log": True}},
    },
    "sampler": {"name": "random", "seed": 0},
    "pruner": {"name": "median", "options": {"n_startup_trials": 2, "n_warmup_steps": 0}},
    "budget": {"num_samples": 6, "max_concurrent": 2},
    "resources": {"cpu": 1, "gpu": 0},
}


def _spec(tmp_path, storage=None, **changes):
    data = {**SPEC, **changes, "storage": {"path": str(tmp_path / "runs"), **(storage or {})}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_spec(path)


def test_run_sweep_records_every_trial_and_refuses_a_second_run(local_ray, tmp_path, capsys):
    spec = _spec(tmp_path)
    result = run_sweep(spec)

    paths = spec.paths
    assert paths.spec_file.is_file() and (paths.dir / "optuna.db").is_file()
    assert load_spec(paths.spec_file).model_dump() == spec.model_dump()
    study = optuna.load_study(study_name="tiny", storage=spec.optuna_url)
    states = [trial.state.name for trial in study.trials]
    assert len(states) == 6 and set(states) <= {"COMPLETE", "PRUNED"} and "COMPLETE" in states
    assert result.summary.counts == {state: states.count(state) for state in set(states)}
    assert result.summary.best[0].number == study.best_trial.number
    assert result.summary.best[0].params == study.best_trial.user_attrs["params"]
    ray_trials = sorted(path.name for path in (paths.ray_dir / "tiny").glob("trial_*"))
    assert ray_trials == [f"trial_{number:05d}" for number in range(6)]
    # The trainable keeps each trial's newest checkpoint only (4 reports: 0..3); one stopped at a report, its last two.
    for number, state in enumerate(states):
        kept = [path.name for path in sorted((paths.ray_dir / "tiny" / f"trial_{number:05d}").glob("checkpoint_*"))]
        if state == "COMPLETE":
            assert kept == ["checkpoint_000003"]
        else:
            assert 1 <= len(kept) <= 2
    progress = capsys.readouterr().out
    assert "complete" in progress and "best val/main/mse" in progress

    with pytest.raises(UserError, match="already exists.*weightsearch resume"):
        run_sweep(spec)
    assert len(optuna.load_study(study_name="tiny", storage=spec.optuna_url).trials) == 6

    status_command(argparse.Namespace(name="tiny", storage_path=str(tmp_path / "runs"), format="json"))
    status = json.loads(capsys.readouterr().out)
    assert status["study"] == "tiny" and status["storage"] == spec.optuna_url
    assert status["counts"] == result.summary.counts
    assert status["best"]["number"] == study.best_trial.number
    assert status["best"]["value"] == pytest.approx(study.best_value)


def test_status_of_an_unknown_sweep_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no sweep named 'nope'"):
        status_command(argparse.Namespace(name="nope", storage_path=str(tmp_path), format="table"))


def test_time_budget_stops_the_sweep_and_closes_its_trials_as_pruned(local_ray, tmp_path):
    spec = _spec(
        tmp_path,
        name="budget",
        trial={**SPEC["trial"], "steps": 10_000_000, "eval_every": 50},
        budget={"num_samples": 6, "max_concurrent": 2, "time_budget_s": 8},
    )
    started = time.monotonic()
    run_sweep(spec)
    assert time.monotonic() - started < 60

    trials = optuna.load_study(study_name="budget", storage=spec.optuna_url).trials
    assert trials and {trial.state.name for trial in trials} == {"PRUNED"}
    assert {trial.user_attrs["stop_reason"] for trial in trials} == {BUDGET_REASON}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:////no/such/folder/optuna.db", "the folder /no/such/folder does not exist"),
        ("sqlite:///:memory:", "in-memory SQLite"),
        ("postgresql://nobody@127.0.0.1:1/none", "cannot open"),
    ],
)
def test_a_bad_study_storage_is_a_user_error_and_writes_nothing(tmp_path, url, message):
    spec = _spec(tmp_path, storage={"optuna_url": url})
    with pytest.raises(UserError, match=message):
        run_sweep(spec)
    assert not (tmp_path / "runs").exists()


def test_a_strategy_by_import_path_is_searched_like_a_built_in(local_ray, tmp_path):
    space = {
        "strategy": {
            "examples.custom_strategy:WarmupWeighting": {"warmup": {"int": [2, 6], "step": 2}, "floor": 0.1},
            "fixed": None,
        }
    }
    spec = _spec(tmp_path, space=space, sampler={"name": "random", "seed": 1}, pruner={"name": "none"},
                 budget={"num_samples": 4, "max_concurrent": 2})
    run_sweep(spec)
    study = optuna.load_study(study_name="tiny", storage=spec.optuna_url)
    assert [trial.state.name for trial in study.trials] == ["COMPLETE"] * 4
    custom = [trial for trial in study.trials if trial.params["strategy"].startswith("examples.")]
    assert custom, "the random sampler with seed 1 picks the custom strategy at least once"
    for trial in custom:
        params = trial.user_attrs["params"]
        assert params["strategy_params.warmup"] in (2, 4, 6) and params["strategy_params.floor"] == 0.1


def test_an_unknown_strategy_path_fails_before_anything_is_written(tmp_path):
    spec = _spec(tmp_path, space={"strategy": {"examples.no_such_module:Strategy": None}})
    with pytest.raises(UserError, match=r"space field 'strategy.examples.no_such_module:Strategy': .*not found"):
        run_sweep(spec)
    assert not (tmp_path / "runs").exists()
