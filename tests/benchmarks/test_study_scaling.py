"""The study-scaling suite's bulk fill writes the study Optuna itself would write, and the searcher can extend it."""

from __future__ import annotations

import random

import optuna

from benchmarks import study_scaling


def _comparable(trial: optuna.trial.FrozenTrial) -> tuple:
    return (trial.number, trial.state, trial.value, trial.params, trial.distributions,
            trial.intermediate_values, trial.user_attrs)


def test_the_bulk_fill_stores_what_add_trials_stores_and_a_sweep_can_suggest_from_it(tmp_path) -> None:
    spec = study_scaling._spec(tmp_path, seed=0)
    trials = study_scaling.finished_trials(spec, 40, random.Random(0))
    assert {trial.state for trial in trials} == {"COMPLETE", "PRUNED", "FAIL"}

    bulk_url = f"sqlite:///{tmp_path / 'bulk.db'}"
    study_scaling.fill_study(bulk_url, spec, trials)
    reference = optuna.create_study(storage=f"sqlite:///{tmp_path / 'reference.db'}", study_name=spec.name,
                                    directions=spec.directions)
    reference.add_trials([study_scaling._frozen(trial) for trial in trials])

    bulk = optuna.load_study(study_name=spec.name, storage=bulk_url)
    assert [_comparable(t) for t in bulk.trials] == [_comparable(t) for t in reference.trials]

    timings = study_scaling.time_suggestions(bulk_url, spec, steady=2)
    assert len(timings["suggest_s"]) == 2 and len(timings["first_suggest_s"]) == 1
    extended = optuna.load_study(study_name=spec.name, storage=bulk_url).trials
    assert len(extended) == 43 and all(t.state == optuna.trial.TrialState.COMPLETE for t in extended[40:])
    assert all(t.user_attrs["params"]["strategy"] in spec.space.strategy_names() for t in extended[40:])


def test_status_latency_runs_the_cli_on_a_sweep_of_each_size(tmp_path) -> None:
    spec = study_scaling._spec(tmp_path, seed=0)
    trials = study_scaling.finished_trials(spec, 12, random.Random(0))
    status = study_scaling.status_latency(tmp_path, spec, trials, [4, 12], repetitions=1)
    assert status["sizes"] == [4, 12] and set(status["per_size"]) == {"4", "12"}
    assert all(len(values) == 1 and values[0] > 0 for values in status["raw"].values())
    study = optuna.load_study(study_name="status-12", storage=f"sqlite:///{tmp_path / 'status-12' / 'optuna.db'}")
    assert len(study.trials) == 12
