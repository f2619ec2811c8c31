"""`weightsearch suggest` on a run directory holding a real spec and SQLite study (no Ray needed): the
proposals as JSON, `--enqueue` adding them as waiting trials, and bad input as one line, exit 2, nothing written."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
import yaml
from optuna.trial import TrialState

from weightsearch.cli import main
from weightsearch.config import load_spec
from weightsearch.config.loading import spec_to_yaml
from weightsearch.contracts import ATTR_SUGGESTED, CONFIG_PARAMS, CONFIG_TRIAL_NUMBER
from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.searcher import OptunaSearcher

SPEC = {
    "name": "bowl",
    "objective": {"metric": "val/action/mse", "mode": "min"},
    "trial": {"model": "reference", "options": {"size": "tiny"}, "steps": 20, "eval_every": 10},
    "space": {
        "strategy": {
            "fixed": {"weights": {"simplex": ["action", "action_token", "align"], "total": 3}},
            "uncertainty": None,
        },
        "parameters": {"lr": {"float": [1.0e-3, 1.0e-2], "log": True}},
    },
    "sampler": {"name": "random", "seed": 0},
    "budget": {"num_samples": 30},
}


def _sweep(root, name: str, trials: int):
    """A run directory as `weightsearch run` leaves it: the resolved spec and a study of finished trials."""
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "name": name, "storage": {"path": str(root)}}))
    spec = load_spec(path)
    spec.paths.dir.mkdir(parents=True)
    spec.paths.spec_file.write_text(spec_to_yaml(spec))
    study = optuna.create_study(study_name=name, storage=spec.optuna_url, sampler=optuna.samplers.RandomSampler(0))

    def objective(trial: optuna.Trial) -> float:
        values = spec.space.sample(trial)
        if values["strategy"] != "fixed":
            return 1.0
        return (values["strategy_params.weights.align"] / 3 - 0.5) ** 2 + 0.01 * np.log10(values["lr"]) ** 2

    study.optimize(objective, n_trials=trials)
    return spec, study


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = tmp_path_factory.mktemp("suggest")
    _sweep(root, "bowl", 30)
    _sweep(root, "young", 3)
    return root


def _waiting(root, name: str) -> list:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{root / name / 'optuna.db'}")
    return study.get_trials(deepcopy=False, states=(TrialState.WAITING,))


def test_suggest_prints_and_enqueues_the_proposals(sweeps, capsys):
    assert main(["suggest", "bowl", "--storage-path", str(sweeps), "--n", "2", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and all(row["strategy"] == "fixed" for row in rows)
    assert rows[0]["predicted_mean"] <= rows[1]["predicted_mean"] and rows[0]["predicted_std"] > 0
    assert set(rows[0]["weights"]) == {
        f"strategy_params.weights.{task}" for task in ("action", "action_token", "align")
    }
    assert _waiting(sweeps, "bowl") == []

    assert main(["suggest", "bowl", "--storage-path", str(sweeps), "--n", "2", "--enqueue"]) == 0
    out = capsys.readouterr().out
    assert "proposals for bowl" in out
    assert "enqueued 2 trials (2 waiting in all): `weightsearch resume bowl --num-samples 32`" in out
    assert main(["suggest", "bowl", "--storage-path", str(sweeps), "--n", "2", "--enqueue", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == rows  # the same proposals, not enqueued twice
    waiting = _waiting(sweeps, "bowl")
    assert len(waiting) == 2
    assert [trial.system_attrs["fixed_params"] for trial in waiting] == [row["optuna_params"] for row in rows]
    assert all(set(trial.user_attrs[ATTR_SUGGESTED]) == {"mean", "std"} for trial in waiting)

    # What the next resume asks through the sweep's searcher: the enqueued trials first, with their values.
    spec = load_spec(sweeps / "bowl" / "spec.yaml")
    study = optuna.load_study(study_name="bowl", storage=spec.optuna_url)
    searcher = OptunaSearcher(OptunaBridge(study, spec.metrics), spec.space, spec.trial)
    configs = [searcher.suggest(f"ray-{index}") for index in range(3)]
    assert [config[CONFIG_TRIAL_NUMBER] for config in configs[:2]] == [trial.number for trial in waiting]
    assert [config[CONFIG_PARAMS] for config in configs[:2]] == [row["values"] for row in rows]
    assert configs[2][CONFIG_TRIAL_NUMBER] == 32 and _waiting(sweeps, "bowl") == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["bowl", "--n", "0"], "--n: propose at least 1 configuration (got 0)"),
        (["nope"], "no sweep named 'nope' under"),
        (["bowl", "--strategy", "famo"], "'famo' is not a strategy of the space; use one of: fixed, uncertainty"),
        (["young", "--strategy", "fixed"], "needs at least 6 finished trials of strategy 'fixed', the study has"),
        (["young"], "finished/needed: fixed "),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(sweeps, capsys, arguments, expected):
    before = {name: len(_waiting(sweeps, name)) for name in ("bowl", "young")}
    assert main(["suggest", *arguments, "--storage-path", str(sweeps), "--enqueue"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and expected in error, error
    assert {name: len(_waiting(sweeps, name)) for name in ("bowl", "young")} == before
