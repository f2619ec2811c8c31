"""`weightsearch confirm` end to end on a real local Ray, SQLite study and MLflow store, with the tiny
`sweep_plugins` model: paired seeds, baselines, reuse of finished runs, another scale, bad input."""

from __future__ import annotations

import json

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from weightsearch.cli import main
from weightsearch.cli.confirm import confirm_sweep, report_lines
from weightsearch.config import load_spec
from weightsearch.contracts import STUDY_ATTR_CONFIRM
from weightsearch.search.confirm_plan import SEED_OFFSET
from weightsearch.search.tuner import run_sweep
from weightsearch.tracking import names
from weightsearch.tracking.recorder import MlflowSweepCallback

SPEC = {
    "name": "paired",
    "objective": {"metric": "val/main/mse", "mode": "min"},
    "trial": {"model": "sweep_plugins:build", "steps": 8, "eval_every": 4, "batch_size": 8, "diagnostics": False},
    "space": {"strategy": {"fixed": {"weights": {"simplex": ["main", "aux"], "total": 2}}},
              "parameters": {"lr": {"float": [1.0e-3, 3.0e-1], "log": True}}},
    "sampler": {"name": "random", "seed": 3},
    "pruner": {"name": "none"},
    "budget": {"num_samples": 4, "max_concurrent": 2},
    "baselines": {"main_only": {"strategy": "fixed", "strategy_params": {"weights": {"main": 1.0, "aux": 0.0}}}},
}


@pytest.fixture(scope="module")
def sweep(local_ray, tmp_path_factory):
    """A finished 4-trial sweep recorded in MLflow (SQLite in its run directory)."""
    root = tmp_path_factory.mktemp("confirm")
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "storage": {"path": str(root / "runs")}}))
    spec = load_spec(path)
    run_sweep(spec, callbacks=[MlflowSweepCallback(spec)])
    return spec


def _confirm_units(spec) -> dict:
    study = optuna.load_study(study_name=spec.name, storage=spec.optuna_url)
    return {key: value for key, value in study.user_attrs.items() if key.startswith(STUDY_ATTR_CONFIRM)}


def _mlflow_confirm_runs(spec) -> list:
    client = MlflowClient(spec.tracking_uri)
    experiment = client.get_experiment_by_name(spec.experiment)
    return client.search_runs([experiment.experiment_id], f"tags.`{names.KIND}` = '{names.KIND_CONFIRM}'")


def test_confirm_ranks_on_paired_seeds_and_never_trains_twice(sweep, capsys):
    report = confirm_sweep(sweep, top=2, seeds=3, baselines=["main_only", "equal"]).to_json()
    assert report["seeds"] == [SEED_OFFSET, SEED_OFFSET + 1, SEED_OFFSET + 2]
    assert report["default_baseline"] == "main_only" and report["scale"] == {}
    labels = [entry["label"] for entry in report["configurations"]]
    assert len(labels) == 4 and {"main_only", "equal"} <= set(labels)
    means = [entry["summary"]["mean"] for entry in report["configurations"]]
    assert means == sorted(means)  # ranked by the confirmed mean (minimise)
    searched = [entry for entry in report["configurations"] if entry["kind"] == "searched"]
    study = optuna.load_study(study_name=sweep.name, storage=sweep.optuna_url)
    best_two = sorted(study.trials, key=lambda trial: trial.value)[:2]
    assert {entry["trial_number"] for entry in searched} == {trial.number for trial in best_two}
    for entry in report["configurations"]:
        assert len(entry["summary"]["values"]) == 3
        for name, versus in entry["versus"].items():
            assert name != entry["label"] and versus["seeds"] == 3 and 0 <= versus["wins"] <= 3
            assert versus["ci_low"] <= versus["mean_difference"] <= versus["ci_high"]
    units = _confirm_units(sweep)
    assert len(units) == 4 * 3 and all("value" in result for result in units.values())
    runs = _mlflow_confirm_runs(sweep)
    assert len(runs) == 12 and {run.data.tags[names.STAGE] for run in runs} == {"confirm"}

    capsys.readouterr()
    again = confirm_sweep(sweep, top=2, seeds=3, baselines=["main_only", "equal"]).to_json()
    assert "12 runs already done, 0 to train" in capsys.readouterr().out
    assert again["configurations"] == report["configurations"]
    assert _confirm_units(sweep) == units and len(_mlflow_confirm_runs(sweep)) == 12


def test_best_puts_the_confirmed_trials_first_with_their_interval(sweep, capsys):
    confirm_sweep(sweep, top=2, seeds=3, baselines=["main_only", "equal"])
    capsys.readouterr()
    assert main(["best", sweep.name, "--storage-path", sweep.storage.path, "--format", "json", "--top", "4"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4  # the confirmation runs are not trials
    confirmed = [row for row in rows if row["confirmation"] is not None]
    assert len(confirmed) == 2 and rows[:2] == confirmed
    assert confirmed[0]["confirmation"]["mean"] <= confirmed[1]["confirmation"]["mean"]
    assert confirmed[0]["confirmation"]["default_baseline"] == "main_only"
    assert main(["best", sweep.name, "--storage-path", sweep.storage.path]) == 0
    table = capsys.readouterr().out
    assert "confirmed" in table and "single run" in table and "Confirmed rows come first" in table
    assert main(["best", sweep.name, "--storage-path", sweep.storage.path, "--top", "60000"]) == 2
    assert "--top: must be between 1 and 10,000 (got 60000)" in capsys.readouterr().err


def test_confirming_at_another_scale_trains_new_runs_and_says_so(sweep, capsys):
    report = confirm_sweep(sweep, top=1, seeds=2, baselines=["equal"], changes=["trial.steps=4"]).to_json()
    assert report["scale"] == {"steps": 4} and report["fingerprint"] != "base"
    assert "another scale than the search: trial.steps=4" in report_lines(report)[0]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--top", "0"], "--top: must be >= 1"),
        (["--seeds", "1"], "--seeds: an interval needs at least 2 seeds"),
        (["--baseline", "nope"], "--baseline: unknown baseline 'nope'; available: equal, main_only"),
        (["--set", "trial.nope=1"], "--set trial.nope: the trial has no field 'nope'"),
        (["--set", "steps=1"], "--set 'steps=1': write trial.KEY=VALUE"),
        (["--set", "trial.lr=-1"], "--set trial field 'lr': must be > 0"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(sweep, capsys, arguments, expected):
    before = (_confirm_units(sweep), len(_mlflow_confirm_runs(sweep)))
    assert main(["confirm", sweep.name, "--storage-path", sweep.storage.path, *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and expected in error, error
    assert (_confirm_units(sweep), len(_mlflow_confirm_runs(sweep))) == before


def test_a_sweep_without_a_complete_trial_has_nothing_to_confirm(local_ray, tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    failing = {**SPEC, "name": "failing", "trial": {**SPEC["trial"], "options": {"nan_at_step": 1}},
               "budget": {"num_samples": 2, "max_concurrent": 2, "max_retries": 0},
               "storage": {"path": str(tmp_path / "runs")}}
    path.write_text(yaml.safe_dump(failing))
    spec = load_spec(path)
    run_sweep(spec, callbacks=[MlflowSweepCallback(spec)])
    assert main(["confirm", "failing", "--storage-path", str(tmp_path / "runs")]) == 2
    assert "has no COMPLETE trial to confirm" in capsys.readouterr().err


def test_run_confirms_after_the_search_when_the_spec_asks(local_ray, tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "name": "confirmed", "budget": {"num_samples": 2, "max_concurrent": 2},
                                    "confirm": {"top": 1, "seeds": 2, "set": {"trial.steps": 4}},
                                    "storage": {"path": str(tmp_path / "runs")}}))
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "confirmation of confirmed: val/main/mse (minimize) on 2 paired seeds" in out
    assert "at another scale than the search: trial.steps=4" in out  # the spec's target scale
    assert "main_only (baseline)" in out
    assert len(_confirm_units(load_spec(tmp_path / "runs" / "confirmed" / "spec.yaml"))) == 2 * 2
