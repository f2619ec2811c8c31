"""A sweep of multi-seed trials (``trial.repeats``) on a real local Ray: the study sees seed means, keeps each seed."""

from __future__ import annotations

import statistics

import optuna
from test_tuner import SPEC, _spec

from weightsearch.contracts import ATTR_SEED_VALUES
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
