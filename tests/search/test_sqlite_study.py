"""`status` reads a study's SQLite file without Optuna: on studies the installed Optuna writes, the summary is
Optuna's own, and whatever the reader cannot vouch for goes back to Optuna."""

from __future__ import annotations

import math
import sqlite3

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from weightsearch.contracts import ATTR_PARAMS, STUDY_ATTR_CALIBRATION
from weightsearch.search.sqlite_study import read_sqlite_study
from weightsearch.search.summary import snapshot, summarize


def _trial(state: TrialState, values: list[float] | None, number: int) -> optuna.trial.FrozenTrial:
    return create_trial(
        state=state,
        values=values,
        params={"lr": 0.001 * (number + 1)},
        distributions={"lr": FloatDistribution(1e-4, 1e-1, log=True)},
        user_attrs={ATTR_PARAMS: {"trial.lr": 0.001 * (number + 1), "strategy": f"s{number % 2}"}},
        intermediate_values={10: 1.0} if state == TrialState.PRUNED else None,
    )


def _study(tmp_path, directions: list[str]) -> tuple[str, optuna.Study]:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="sweep", storage=url, directions=directions)
    optuna.create_study(study_name="other", storage=url).add_trial(_trial(TrialState.COMPLETE, [-5.0], 0))
    study.set_user_attr(STUDY_ATTR_CALIBRATION, {"min_complete": 6, "steps": {"100": {"n": 2, "rho": None}}})
    return url, study


def _both(url: str, study: optuna.Study) -> tuple:
    metrics = [f"m{index}" for index in range(len(study.directions))]
    fast = read_sqlite_study(url, "sweep")
    assert fast is not None
    return (summarize(fast, url, metrics, calibrated=True),
            summarize(snapshot(optuna.load_study(study_name="sweep", storage=url)), url, metrics, calibrated=True))


def test_a_single_objective_study_summarizes_as_optuna_reads_it(tmp_path):
    url, study = _study(tmp_path, ["maximize"])
    for number, (state, value) in enumerate([(TrialState.COMPLETE, 0.5), (TrialState.COMPLETE, math.inf),
                                             (TrialState.PRUNED, 0.1), (TrialState.FAIL, None),
                                             (TrialState.COMPLETE, 0.9), (TrialState.RUNNING, None)]):
        study.add_trial(_trial(state, None if value is None else [value], number))
    study.enqueue_trial({"lr": 0.01})  # WAITING, with Optuna's parameters only
    fast, slow = _both(url, study)
    assert fast == slow
    assert fast.counts == {"RUNNING": 1, "COMPLETE": 3, "PRUNED": 1, "FAIL": 1, "WAITING": 1}
    assert [(best.number, best.values) for best in fast.best] == [(1, [math.inf])]
    assert fast.best[0].params == {"trial.lr": 0.002, "strategy": "s1"} and fast.calibration["min_complete"] == 6


def test_a_pareto_front_summarizes_as_optuna_reads_it(tmp_path):
    url, study = _study(tmp_path, ["minimize", "maximize"])
    for number, values in enumerate([[1.0, 1.0], [0.5, 0.5], [2.0, 2.0], [1.5, 0.2], [0.5, 0.5]]):
        study.add_trial(_trial(TrialState.COMPLETE, values, number))
    fast, slow = _both(url, study)
    assert fast == slow
    assert [best.number for best in fast.best] == [0, 1, 2, 4] == [trial.number for trial in study.best_trials]


def test_what_the_reader_cannot_vouch_for_goes_back_to_optuna(tmp_path):
    url, study = _study(tmp_path, ["minimize"])
    study.add_trial(_trial(TrialState.COMPLETE, [1.0], 0))
    assert read_sqlite_study(url, "sweep") is not None
    assert read_sqlite_study(url, "missing") is None
    assert read_sqlite_study(f"sqlite:///{tmp_path / 'absent.db'}", "sweep") is None
    assert read_sqlite_study("postgresql://user@127.0.0.1/optuna", "sweep") is None
    study.add_trial(create_trial(value=0.5))  # COMPLETE without our parameters: Optuna decodes its own
    assert read_sqlite_study(url, "sweep") is None

    (tmp_path / "later").mkdir()
    url, study = _study(tmp_path / "later", ["minimize"])
    study.add_trial(_trial(TrialState.COMPLETE, [1.0], 0))
    with sqlite3.connect(tmp_path / "later" / "optuna.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'v9.9.9'")  # a schema this reader never saw
    assert read_sqlite_study(url, "sweep") is None
