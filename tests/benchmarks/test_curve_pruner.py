"""The learning-curve pruner on Optuna studies in SQLite: it stops a trial only when its extrapolation is confidently worse."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from benchmarks.curve_pruner import CurvePruner, probability_better

STEPS = (1, 2, 3)


def _history(count: int = 10) -> list[dict[int, float]]:
    """Finished curves: step 1 says nothing of the final value, step 2 is twice it (± 5 %), step 3 is the final value."""
    rng = np.random.default_rng(0)
    finals = np.exp(rng.uniform(math.log(0.01), math.log(1.0), count))
    firsts = np.exp(rng.uniform(math.log(1.0), math.log(3.0), count))
    seconds = 2 * finals * np.exp(rng.normal(0, 0.05, count))
    return [{1: float(a), 2: float(b), 3: float(c)} for a, b, c in zip(firsts, seconds, finals)]


def _study(tmp_path, pruner: optuna.pruners.BasePruner, name: str = "curve") -> optuna.Study:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    return optuna.create_study(storage=storage, study_name=name, pruner=pruner)


def _run(study: optuna.Study, curve: dict[int, float]) -> int | None:
    """Report ``curve`` one step at a time as the bridge does; the step it was pruned at (None: it finished)."""
    trial = study.ask()
    for step in sorted(curve):
        trial.report(curve[step], step)
        if trial.should_prune():
            study.tell(trial, state=TrialState.PRUNED)
            return step
    study.tell(trial, curve[max(curve)])
    return None


def test_prunes_a_clearly_worse_curve_where_its_values_predict_the_end_and_keeps_a_slow_starter(tmp_path):
    study = _study(tmp_path, CurvePruner(confidence=0.95, top=3, min_complete=5))
    history = _history()
    pruned_at = {number: _run(study, curve) for number, curve in enumerate(history)}
    assert all(pruned_at[number] is None for number in range(5))  # too few finished trials to go by
    # Later ones stop only at step 2 (step 1 says nothing), and none of the three best is stopped.
    stopped = [number for number, step in pruned_at.items() if step is not None]
    assert stopped and {pruned_at[number] for number in stopped} == {2}
    assert all(history[number][3] > sorted(curve[3] for curve in history)[2] for number in stopped)

    slow_starter = {1: 3.5, 2: 0.01, 3: 0.005}  # the worst value at step 1, the best at the end
    assert _run(study, slow_starter) is None
    # Far worse at step 2, where values track the final ones; at step 1, uninformative, it went on.
    assert _run(study, {1: 2.0, 2: 2.0, 3: 1.0}) == 2
    assert study.trials[-1].state == TrialState.PRUNED

    # The median pruner, on the same finished trials, stops the slow starter at step 1: this case can fail.
    median = _study(tmp_path, optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0), name="median")
    for curve in _history():
        _run(median, curve)
    assert _run(median, slow_starter) == 1


def test_never_prunes_before_min_complete_trials_have_finished_past_the_step(tmp_path):
    study = _study(tmp_path, CurvePruner(min_complete=5))
    terrible = {1: 3.0, 2: 50.0, 3: 25.0}
    for curve in _history(4):
        _run(study, curve)
    assert _run(study, terrible) is None  # 4 finished trials: too few to extrapolate from
    _run(study, _history(5)[-1])
    assert _run(study, terrible) == 2  # 5 finished (the terrible one among them, and it still is)

    # At the last step no finished trial ran past it: nothing to extrapolate, nothing pruned.
    trial = study.ask()
    trial.report(1e6, 3)
    assert not trial.should_prune()


def test_maximising_and_the_prediction_interval():
    # y = x exactly, up to alternating ±0.1: a point at x = 0 is predicted near 0 with a spread of about 0.1.
    pairs = [(x, x + (0.1 if i % 2 else -0.1)) for i, x in enumerate(np.linspace(-1, 1, 9))]
    assert probability_better(pairs, 0.0, 0.5, minimize=True) > 0.99
    assert probability_better(pairs, 0.0, 0.5, minimize=False) < 0.01
    assert probability_better(pairs, 0.0, 0.0, minimize=True) == pytest.approx(0.5, abs=0.05)
    assert probability_better([(1.0, 0.0), (1.0, 1.0), (1.0, 2.0)], 5.0, 0.0, minimize=True) == 1.0  # no spread in x


@pytest.mark.parametrize("options", [{"confidence": 1.0}, {"top": 0}, {"min_complete": 2}, {"min_complete": True}])
def test_rejects_options_it_cannot_act_on(options):
    with pytest.raises(ValueError):
        CurvePruner(**options)
