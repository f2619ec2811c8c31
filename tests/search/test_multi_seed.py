"""A sweep of multi-seed trials (``trial.repeats``) on a real local Ray: the study sees seed means, keeps each seed,
and a calibrated pruner calibrates on those means."""

from __future__ import annotations

import statistics

import optuna
import pytest
from test_tuner import SPEC, _spec

from weightsearch.contracts import (
    ATTR_SEED_VALUES,
    STUDY_ATTR_CALIBRATION,
    STUDY_ATTR_CALIBRATION_JUDGED,
    seed_metric,
)
from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.tuner import run_sweep
from weightsearch.stats import spearman_rho


def test_the_study_holds_seed_means_and_each_seeds_final_value_and_the_gate_ranks_the_means(local_ray, tmp_path):
    # A calibrated pruner whose gate opens once 3 trials finished (any ρ): it calibrates on what the pruner sees.
    pruner = {**SPEC["pruner"], "calibrate": {"min_complete": 3, "min_rho": -1}}
    spec = _spec(
        tmp_path, name="seeds", trial={**SPEC["trial"], "repeats": 2}, budget={"num_samples": 5, "max_concurrent": 2},
        pruner=pruner,
    )
    run_sweep(spec)

    study = optuna.load_study(study_name="seeds", storage=spec.optuna_url)
    trials = study.trials
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
    # The gate's ρ is the one of the seed means (intermediate values) against the final means, over unjudged trials.
    judged = study.user_attrs[STUDY_ATTR_CALIBRATION_JUDGED]
    assert judged, "no trial reached an open step"
    table = study.user_attrs[STUDY_ATTR_CALIBRATION]["steps"]
    # The table is refreshed at a trial's first report: it counts the unjudged trials finished by then.
    unjudged = sorted((t for t in complete if str(t.number) not in judged), key=lambda t: t.datetime_complete)
    counted = unjudged[: table["2"]["n"]]
    assert len(counted) >= 3, table
    for step in (2, 4, 6):
        rho = spearman_rho([t.intermediate_values[step] for t in counted], [t.value for t in counted])
        assert table[str(step)]["n"] == len(counted) and table[str(step)]["rho"] == pytest.approx(rho), (step, table)


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
