"""Sweep specs: loading, overrides, one-line errors (also through the CLI), model checks, Optuna factories."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from weightsearch.config import (
    SweepSpec,
    TrialConfig,
    load_spec,
    overrides_from_args,
    spec_to_yaml,
)
from weightsearch.errors import UserError
from weightsearch.search.checks import check_spec, reported_metrics
from weightsearch.search.optuna_factory import PRUNERS, make_pruner, make_sampler

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "search_spaces" / "quickstart.yaml"
TASKS = ["action", "action_token", "align", "recon_patch", "recon_token"]
TINY_TRIAL = {"options": {"size": "tiny"}, "steps": 20, "eval_every": 10, "batch_size": 8, "diagnostics": False}


def _write(tmp_path: Path, data: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _spec(**changes: object) -> dict:
    """A small valid spec as a mapping; ``changes`` replace top-level sections."""
    data = {
        "name": "test-sweep",
        "trial": dict(TINY_TRIAL),
        "space": {
            "strategy": {"fixed": {"weights": {"simplex": TASKS, "total": 5}}, "dwa": {"window": {"int": [2, 8]}}},
            "parameters": {"lr": {"float": [1e-3, 1e-2], "log": True}},
        },
        "budget": {"num_samples": 4},
    }
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def quickstart() -> SweepSpec:
    return load_spec(QUICKSTART)


def test_quickstart_validates_against_its_model(quickstart: SweepSpec) -> None:
    check = check_spec(quickstart)
    assert check.tasks == tuple(TASKS)
    assert "val/action/mse" in check.metrics and "train/weight/align" in check.metrics
    assert not any(name.startswith("train/grad") for name in check.metrics)  # quickstart turns diagnostics off
    assert quickstart.pruner.name != "none"


@pytest.mark.parametrize("space", ["fixed.yaml", "adaptive.yaml", "full.yaml"])
def test_shipped_spaces_validate_in_a_spec(space: str, quickstart: SweepSpec) -> None:
    spec = load_spec(QUICKSTART, [f"space={space}"])
    assert spec.space != quickstart.space
    if space == "full.yaml":
        pytest.importorskip("quadprog", reason='torchjd upgrad needs "torchjd[quadprog_projector]"')
    check_spec(spec)


def test_defaults(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, {"name": "s", "space": {"parameters": {"lr": 0.001}}, "budget": {"num_samples": 1}}))
    assert spec.metrics == ["val/action/mse"] and spec.directions == ["minimize"]
    assert (spec.sampler.name, spec.sampler.seed, spec.pruner.name) == ("tpe", 0, "median")
    assert (spec.budget.max_concurrent, spec.resources.cpu, spec.resources.gpu) == (2, 1.0, 0.0)
    assert spec.tracking.experiment == "s" and spec.experiment == "s"
    assert spec.optuna_url == f"sqlite:///{Path('ws-runs').resolve() / 's' / 'optuna.db'}"
    assert spec.tracking_uri.endswith("/ws-runs/s/mlflow.db")
    assert spec.trial == TrialConfig()


def test_spec_to_yaml_round_trips(tmp_path: Path, quickstart: SweepSpec) -> None:
    for spec in (quickstart, load_spec(QUICKSTART, ["space=full.yaml", "pruner.name=none", "objective=[{metric: a}, {metric: b, mode: max}]"])):
        path = tmp_path / "resolved.yaml"
        path.write_text(spec_to_yaml(spec))
        assert load_spec(path) == spec


def test_space_file_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "spec_dir").mkdir()
    (tmp_path / "spec_dir" / "mine.yaml").write_text("parameters: {lr: 0.002}\n")
    spec_path = _write(tmp_path / "spec_dir", _spec(space="mine.yaml"))
    assert load_spec(spec_path).space.parameters == {"lr": 0.002}  # next to the spec
    assert load_spec(spec_path, ["space=adaptive.yaml"]).space.strategy_names()[0] == "uncertainty"  # repo folder
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "here.yaml").write_text("parameters: {lr: 0.003}\n")
    monkeypatch.chdir(tmp_path / "cwd")
    assert load_spec(spec_path, ["space=here.yaml"]).space.parameters == {"lr": 0.003}  # current directory
    with pytest.raises(UserError, match=r"spec field 'space': space file 'nope.yaml' not found next to the spec"):
        load_spec(spec_path, ["space=nope.yaml"])


def test_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path, _spec(space="fixed.yaml"))
    spec = load_spec(
        path,
        [
            "trial.steps=40",
            "trial.options.caption_ratio=0.25",
            "budget.num_samples=7",
            "sampler.options.n_startup_trials=3",
            "space.parameters.lr.float=[0.002, 0.02]",  # inlines the referenced space file first
            "tracking.uri=",
        ],
    )
    assert spec.trial.steps == 40 and spec.trial.options == {"size": "tiny", "caption_ratio": 0.25}
    assert spec.budget.num_samples == 7 and spec.sampler.options == {"n_startup_trials": 3}
    assert spec.space.parameters["lr"].bounds == (0.002, 0.02)
    assert spec.space.strategy_names() == ["fixed"] and spec.tracking.uri is None


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trial.stepz=3", "--set trial.stepz: trial has no field 'stepz'; valid: model, options,"),
        ("budgets.num_samples=3", "--set budgets.num_samples: the spec has no field 'budgets'"),
        ("trial.steps", "--set 'trial.steps': write KEY=VALUE"),
        ("trial.steps=[1", "--set trial.steps: value '[1' is not valid YAML"),
        ("name.inner=3", "--set name.inner: 'name' holds a str, not a mapping"),
        ("budget.num_samples=0", "spec field 'budget.num_samples': must be >= 1 (got 0)"),
    ],
)
def test_override_errors(override: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(UserError) as raised:
        load_spec(_write(tmp_path, _spec()), [override])
    assert expected in str(raised.value)


def test_cli_flags_become_overrides(tmp_path: Path) -> None:
    args = argparse.Namespace(
        overrides=["trial.steps=30"],
        name="renamed",
        num_samples=3,
        max_concurrent=1,
        storage_path=str(tmp_path / "runs"),
        tracking_uri="http://localhost:5000",
        ray_address=None,
    )
    spec = load_spec(_write(tmp_path, _spec()), overrides_from_args(args))
    assert (spec.name, spec.budget.num_samples, spec.budget.max_concurrent, spec.trial.steps) == ("renamed", 3, 1, 30)
    assert spec.storage.path == str(tmp_path / "runs") and spec.tracking.uri == "http://localhost:5000"
    assert spec.experiment == "renamed" and spec.ray.address is None
    assert overrides_from_args(argparse.Namespace(overrides=[])) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": "a/b"}, "spec field 'name': 'a/b' cannot name a run directory; use letters, digits"),
        ({"name": "--help"}, "spec field 'name': '--help' cannot name a run directory"),
        ({"budget": {"num_samples": True}}, "spec field 'budget.num_samples': input should be a valid integer"),
        ({"trial": {"steps": 10**30}}, "spec field 'trial.steps': must be <= 1000000000"),
        ({"objective": {"mode": "max"}}, "spec field 'objective.metric': name the metric to maximise"),
        ({"budget": {"num_samples": 2, "time_budget_s": float("inf")}}, "spec field 'budget.time_budget_s'"),
        ({"name": ".."}, "spec field 'name': '..' cannot name a run directory"),
        ({"budget": {"num_samples": 0}}, "spec field 'budget.num_samples': must be >= 1 (got 0)"),
        ({"budget": {"num_samples": 2, "max_concurrent": 0}}, "spec field 'budget.max_concurrent': must be >= 1"),
        ({"budget": {}}, "spec field 'budget.num_samples': is required"),
        ({"resources": {"gpu": 1.5}}, "spec field 'resources.gpu': must be a fraction up to 1 or a whole number"),
        ({"resources": {"cpu": 0}}, "spec field 'resources.cpu': must be > 0"),
        ({"storage": {"optuna_url": "not a url"}}, "spec field 'storage.optuna_url': 'not a url' is not an SQLAlchemy URL"),
        ({"sampler": {"name": "bayes"}}, "spec field 'sampler.name': must be one of 'tpe', 'random', 'cmaes', 'gp', 'nsga2' or 'grid' (got 'bayes')"),
        ({"objective": {"metric": "val/action/mse", "mode": "minimize"}}, "spec field 'objective.mode': must be one of 'min' or 'max' (got 'minimize')"),
        ({"objective": [{"metric": "a"}, {"metric": "a"}]}, "spec field 'objective': metrics repeat"),
        ({"budgett": 3}, "spec field 'budgett': unknown field; valid: name, objective, trial, space"),
        ({"trial": {**TINY_TRIAL, "eval_every": 50}}, "spec field 'trial': eval_every (50) is larger than steps (20)"),
        ({"space": {"parameters": {"lr": {"float": [0.0, 0.01]}}}}, "spec field 'space.parameters.lr': sampled values {'lr': 0.0} give an invalid trial config: field 'lr': must be > 0.0 (got 0.0)"),
        (
            {"space": {"parameters": {"lr": {"float": [1e-3, 1e-2]}, "weight_decay": {"float": [-0.1, 0.1]}}}},
            "spec field 'space.parameters.weight_decay': sampled values {'weight_decay': -0.1}",
        ),
        ({"space": {"parameters": {"steps": {"choice": [20, 0, 30]}}}}, "spec field 'space.parameters.steps': sampled values {'steps': 0}"),
        ({"space": {"parameters": {"steps": {"int": [5, 30]}}}}, "spec field 'space.parameters.steps': sampled values {'steps': 5} give an invalid trial config: eval_every (10) is larger than steps (5)"),
    ],
)
def test_spec_errors_are_one_line_naming_the_field(changes: dict, expected: str, tmp_path: Path) -> None:
    with pytest.raises(UserError) as raised:
        load_spec(_write(tmp_path, _spec(**changes)))
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_space_file_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad_space.yaml").write_text("parameters:\n  lr: {float: [0.01, 0.001]}\n")
    with pytest.raises(UserError, match=r"space file '.*bad_space.yaml' field 'parameters.lr.float': low"):
        load_spec(_write(tmp_path, _spec(space="bad_space.yaml")))


def test_a_spec_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"not UTF-8 text \(byte 9\); save it as UTF-8"):
        load_spec(path)


def test_a_space_is_not_a_spec() -> None:
    with pytest.raises(UserError, match="is a search space, not a sweep spec; write a spec with `space: fixed.yaml`"):
        load_spec(REPO / "search_spaces" / "fixed.yaml")


def test_multi_objective_turns_pruning_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    objectives = [{"metric": "val/action/mse"}, {"metric": "val/align/recall_at_1", "mode": "max"}]
    with caplog.at_level(logging.WARNING, logger="weightsearch.config.spec"):
        spec = load_spec(_write(tmp_path, _spec(objective=objectives)))
    assert spec.pruner.name == "none" and spec.directions == ["minimize", "maximize"]
    assert "pruner 'median' is off" in caplog.text
    assert isinstance(make_pruner(spec), optuna.pruners.NopPruner)
    with pytest.raises(UserError, match="spec field 'sampler.name': 'cmaes' optimises one objective"):
        make_sampler(load_spec(_write(tmp_path, _spec(objective=objectives, sampler={"name": "cmaes"}))))


@pytest.mark.parametrize("name", ["tpe", "random", "cmaes", "gp", "nsga2"])
def test_every_sampler_builds_with_the_spec_seed(name: str, tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, _spec(sampler={"name": name, "seed": 7})))
    assert isinstance(make_sampler(spec), optuna.samplers.BaseSampler)


def test_grid_sampler_needs_a_finite_grid(tmp_path: Path) -> None:
    space = {"strategy": {"dwa": {"window": {"int": [2, 4]}}}, "parameters": {"lr": {"float": [1e-3, 1e-2], "grid": [1e-3, 1e-2]}}}
    sampler = make_sampler(load_spec(_write(tmp_path, _spec(space=space, sampler={"name": "grid"}))))
    assert isinstance(sampler, optuna.samplers.GridSampler)
    with pytest.raises(UserError, match=r"space field 'strategy.fixed.weights': a simplex cannot be grid-searched"):
        make_sampler(load_spec(_write(tmp_path, _spec(sampler={"name": "grid"}))))


PRUNER_OPTIONS = {
    "percentile": {"percentile": 25.0},
    "patient": {"wrapped_pruner": {"name": "median", "options": {"n_warmup_steps": 2}}, "patience": 2},
    "threshold": {"upper": 10.0},
}


@pytest.mark.parametrize("name", sorted(PRUNERS))
def test_every_pruner_builds(name: str, tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, _spec(pruner={"name": name, "options": PRUNER_OPTIONS.get(name, {})})))
    assert isinstance(make_pruner(spec), PRUNERS[name])


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"sampler": {"name": "tpe", "options": {"n_startup": 3}}}, "spec field 'sampler.options.n_startup': tpe has no such option; valid: consider_prior,"),
        ({"sampler": {"name": "tpe", "options": {"seed": 3}}}, "spec field 'sampler.options.seed': set it as sampler.seed"),
        ({"sampler": {"name": "tpe", "options": {"gamma": 3}}}, "spec field 'sampler.options.gamma': tpe has no such option"),
        ({"pruner": {"name": "median", "options": {"warmup": 3}}}, "valid: n_startup_trials, n_warmup_steps, interval_steps, n_min_trials"),
        ({"pruner": {"name": "percentile"}}, "spec field 'pruner.options': percentile needs option(s) percentile"),
        ({"pruner": {"name": "percentile", "options": {"percentile": 150}}}, "spec field 'pruner.options': percentile rejects its options"),
        ({"pruner": {"name": "none", "options": {"x": 1}}}, "spec field 'pruner.options': pruner 'none' takes no options"),
        ({"pruner": {"name": "patient", "options": {"patience": 1, "wrapped_pruner": {"name": "mdian"}}}}, "spec field 'pruner.options.wrapped_pruner.name': must be one of"),
    ],
)
def test_sampler_and_pruner_option_errors(section: dict, expected: str, tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, _spec(**section)))
    with pytest.raises(UserError) as raised:
        make_sampler(spec)
        make_pruner(spec)
    assert expected in str(raised.value)


def test_reported_metrics_of_the_reference() -> None:
    metrics = reported_metrics(TrialConfig(**{**TINY_TRIAL, "diagnostics": True}))
    expected = {
        "val/action/mse",
        "val/loss/align",
        "train/loss/total",
        "train/weight/recon_token",
        "train/contrib/action",
        "train/loss_norm/align",
        "train/grad_norm/action",
        "train/grad_cos/action-action_token",
        "step",
        "time/train_s",
    }
    assert expected <= metrics


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"objective": {"metric": "val/action/mae"}}, "spec field 'objective.metric': the trial never reports 'val/action/mae'; use e.g. val/action"),
        ({"space": {"strategy": {"fixd": None}}}, "space field 'strategy.fixd': unknown strategy 'fixd'"),
        (
            {"space": {"strategy": {"gradnorm": {"alhpa": {"float": [0.5, 2.0]}}}}},
            "space field 'strategy.gradnorm.alhpa': gradnorm takes no argument 'alhpa'; it takes: alpha, lr, window",
        ),
        (
            {"space": {"strategy": {"no_such_module:Strategy": None}}},
            "space field 'strategy.no_such_module:Strategy': ",
        ),
        (
            {"space": {"strategy": {"fixed": {"weights": {"simplex": ["action", "grasp"]}}}}},
            "space field 'strategy.fixed.weights': unknown task 'grasp'; the model's tasks are action, action_token",
        ),
        (
            {"space": {"strategy": {"fixed": {"weights": {"grasp": {"float": [0.1, 1.0]}}}}}},
            "space field 'strategy.fixed': with arguments {'weights': {'grasp': 0.1}}: fixed: parameter 'weights' names unknown task(s) ['grasp']",
        ),
        (
            {"space": {"strategy": {"dwa": {"temperature": {"float": [-1.0, 1.0]}}}}},
            "space field 'strategy.dwa': with arguments {'temperature': -1.0}: dwa: parameter 'temperature' must be > 0",
        ),
        ({"space": {"parameters": {"normalization": {"choice": ["none", "zscore"]}}}}, "space field 'parameters.normalization': unknown normalization 'zscore'"),
        ({"trial": {**TINY_TRIAL, "options": {"size": "huge"}}, "space": {"parameters": {"lr": 0.001}}}, "spec field 'trial': cannot build the model: options.size must be one of"),
        ({"trial": {**TINY_TRIAL, "model": "os:system"}}, "spec field 'trial.model': model factory 'os:system' failed on the CPU (TypeError"),
    ],
)
def test_checks_against_the_model(changes: dict, expected: str, tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, _spec(**changes)))
    with pytest.raises(UserError) as raised:
        check_spec(spec)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "weightsearch.cli", "validate", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_validate_prints_a_summary_and_creates_nothing(tmp_path: Path) -> None:
    result = _cli(tmp_path, str(QUICKSTART), "--set", f"storage.path={tmp_path / 'runs'}")
    assert result.returncode == 0, result.stderr
    assert "name       quickstart" in result.stdout and "strategy dwa:" in result.stdout
    assert "strategy_params.temperature: float [1, 4]" in result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "budget.num_samples=0"], "spec field 'budget.num_samples': must be >= 1 (got 0)"),
        (["--set", "space.strategy.gradnorm.alhpa={float: [0.5, 2.0]}"], "space field 'strategy.gradnorm.alhpa': gradnorm takes no argument 'alhpa'; it takes: alpha, lr, window"),
        (["--set", "objective.metric=val/nothing"], "spec field 'objective.metric': the trial never reports"),
    ],
)
def test_cli_validate_errors_are_one_stderr_line(args: list[str], expected: str, tmp_path: Path) -> None:
    result = _cli(tmp_path, str(QUICKSTART), *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_another_sampler_or_pruner_by_name_starts_from_its_own_options() -> None:
    spec = load_spec(QUICKSTART, ["sampler.name=random", "pruner.name=none"])
    assert spec.sampler.options == {} and spec.pruner.options == {}
    make_sampler(spec), make_pruner(spec)
    later = load_spec(QUICKSTART, ["pruner.name=percentile", "pruner.options.percentile=25.0"])
    assert later.pruner.options == {"percentile": 25.0}
