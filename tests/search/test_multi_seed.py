"""A sweep of multi-seed trials (``trial.repeats``) on a real local Ray: the study sees seed means, keeps each seed."""

from __future__ import annotations

import statistics

import optuna
from test_tuner import SPEC, _spec

from weightsearch.contracts import ATTR_SEED_VALUES, seed_metric
from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.tuner import run_sweep


def test_the_study_holds_seed_means_and_each_seeds_final_value(local_ray, tmp_path):
    spec = _spec(tmp_path, name="seeds", trial={**SPEC["trial"], "repeats": 2}, budget={"num_samples": 4, "max_concurrent": 2})
    run_sweep(spec)

    trials = optuna.load_study(study_name="seeds", storage=spec.optuna_url).trials
    assert {trial.state.name for trial in trials} <= {"COMPLETE", "PRUNED"}
    complete = [trial for trial in trials if trial.state.name == "COMPLETE"]
    assert complete
    for trial in complete:
        per_seed = trial.user_attrs[ATTR_SEED_VALUES]
        assert list(per_seed) == ["val/main/mse"] and len(per_seed["val/main/mse"]) == 2
        mean = statistics.fmean(per_seed["val/main/mse"])
        assert trial.value == mean and trial.intermediate_values[8] == mean
        assert per_seed["val/main/mse"][0] != per_seed["val/main/mse"][1]
    for trial in trials:
        assert sorted(trial.intermediate_values) == [2, 4, 6, 8][: len(trial.intermediate_values)]


def test_completing_a_trial_keeps_each_seeds_objective_values_and_a_single_seed_trial_none(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'optuna.db'}", directions=["minimize", "maximize"])
    bridge = OptunaBridge(study, ["loss", "accuracy"])
    bridge.ask("seeds")
    per_seed = {seed_metric(name, index): value for name, values in (("loss", (1.0, 3.0)), ("accuracy", (0.5, 0.7)))
                for index, value in enumerate(values)}
    bridge.complete("seeds", {"loss": 2.0, "accuracy": 0.6, **per_seed})
    bridge.ask("single")
    bridge.complete("single", {"loss": 2.0, "accuracy": 0.6})

    several, single = study.trials
    assert several.values == [2.0, 0.6] and several.user_attrs[ATTR_SEED_VALUES] == {
        "loss": [1.0, 3.0], "accuracy": [0.5, 0.7]
    }
    assert single.state.name == "COMPLETE" and ATTR_SEED_VALUES not in single.user_attrs
