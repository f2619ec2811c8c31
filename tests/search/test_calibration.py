"""The calibrated pruning gate on plain Optuna studies in SQLite: it opens only where early ranks agree with final ones."""

from __future__ import annotations

import argparse
import json
import math

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from scipy import stats as scipy_stats

from weightsearch.cli.sweep import status_command
from weightsearch.config import load_spec, spec_to_yaml
from weightsearch.contracts import STUDY_ATTR_CALIBRATION, STUDY_ATTR_CALIBRATION_JUDGED, seed_metric
from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.calibration import CalibratedPruner, step_agreement
from weightsearch.search.optuna_factory import make_pruner
from weightsearch.search.tuner import study_storage
from weightsearch.stats import spearman_rho

STEPS = (1, 2, 3)
# Final objective x (minimised). Step 1 ranks the trials backwards (a slow starter ends best), step 2
# is noise, step 3 agrees with the end up to a small wobble.
XS = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.95, 0.05, 0.6, 0.8, 0.15, 0.85, 0.4, 0.99, 0.25, 0.75]
NOISE = [0.3, -0.2, 0.1, 0.4, -0.4, 0.0, 0.2, -0.1, 0.35, -0.3, 0.05, -0.05, 0.25, -0.25, 0.15, -0.15]


def _curve(number: int) -> dict[int, float]:
    x, noise = XS[number], NOISE[number]
    return {1: 2.0 - x, 2: 0.5 + noise, 3: x + noise / 100}


def _study(tmp_path, pruner: optuna.pruners.BasePruner, name: str = "gate") -> optuna.Study:
    # The sweep's own SQLite storage (write-ahead log): one commit per report stays cheap on a busy disk.
    return optuna.create_study(storage=study_storage(_url(tmp_path)), study_name=name, pruner=pruner)


def _url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'optuna.db'}"


def _run(study: optuna.Study, numbers: range, curve=_curve) -> dict[int, int]:
    """Run trials ``numbers`` one at a time; the step each pruned trial was pruned at."""
    pruned_at = {}
    for number in numbers:
        trial = study.ask()
        assert trial.number == number
        values = curve(number)
        for step in STEPS:
            trial.report(values[step], step)
            if trial.should_prune():
                pruned_at[number] = step
                study.tell(trial, state=TrialState.PRUNED)
                break
        else:
            study.tell(trial, values[STEPS[-1]])
    return pruned_at


def _gate(min_complete: int = 6, min_rho: float = 0.8) -> CalibratedPruner:
    return CalibratedPruner(optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=0), min_complete, min_rho)


def test_the_gate_stays_closed_where_early_values_mislead_and_lets_the_median_prune_where_they_agree(tmp_path):
    study = _study(tmp_path, _gate())
    pruned_at = _run(study, range(len(XS)))

    assert not any(number < 6 for number in pruned_at)  # too few finished trials: nothing is trusted
    assert pruned_at and set(pruned_at.values()) == {3}
    # Ungated, the median pruner stops some of the very trials at step 1 (the slow starters that end best).
    ungated = _run(_study(tmp_path, optuna.pruners.MedianPruner(n_startup_trials=0), name="ungated"), range(len(XS)))
    assert 1 in ungated.values()
    assert min(XS[number] for number in ungated) < min(XS[number] for number in pruned_at)

    table = study.user_attrs[STUDY_ATTR_CALIBRATION]
    assert (table["min_complete"], table["min_rho"]) == (6, 0.8)
    steps = table["steps"]
    assert steps["1"] == {"n": 6, "rho": pytest.approx(-1.0), "trusted": False}
    assert not steps["2"]["trusted"]
    assert steps["3"] == {"n": 6, "rho": pytest.approx(1.0), "trusted": True}
    # Every trial after the sixth reached step 3 while it was open: judged there, so none of them calibrates.
    judged = study.user_attrs[STUDY_ATTR_CALIBRATION_JUDGED]
    assert judged == {str(number): 3 for number in range(6, len(XS))}


def test_trials_the_inner_pruner_judged_never_calibrate_a_step(tmp_path):
    """Survivors agree at step 1 here; counted, they would open it. The gate keeps to the six never judged."""

    def curve(number: int) -> dict[int, float]:
        values = _curve(number)
        # The six calibrating trials rank backwards at step 1, within a narrow band; the later ones agree.
        return {**values, 1: 0.5 + (0.5 - XS[number]) / 100 if number < 6 else values[3]}

    study = _study(tmp_path, _gate(min_rho=0.4))
    _run(study, range(len(XS)), curve)

    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) > 6 and step_agreement(complete)[1].rho >= 0.4  # every finished trial: step 1 would open
    steps = study.user_attrs[STUDY_ATTR_CALIBRATION]["steps"]
    assert steps["1"]["n"] == 6 and not steps["1"]["trusted"]


def test_a_resumed_study_keeps_the_gate_and_its_judged_trials(tmp_path):
    study = _study(tmp_path, _gate())
    _run(study, range(10))
    stored = study.user_attrs

    # A new driver: the study loaded from storage with a new pruner, as `weightsearch resume` does.
    resumed = optuna.load_study(study_name="gate", storage=study_storage(_url(tmp_path)), pruner=_gate())
    pruned_at = _run(resumed, range(10, len(XS)))
    assert set(pruned_at.values()) <= {3} and pruned_at
    after = resumed.user_attrs
    assert after[STUDY_ATTR_CALIBRATION] == stored[STUDY_ATTR_CALIBRATION]  # judged trials stayed out
    assert after[STUDY_ATTR_CALIBRATION_JUDGED] == {str(number): 3 for number in range(6, len(XS))}


def test_step_agreement_ranks_ties_on_average_and_leaves_out_what_cannot_rank():
    def trial(value, intermediate, state=TrialState.COMPLETE):
        return optuna.trial.create_trial(
            state=state, value=value if state == TrialState.COMPLETE else None, intermediate_values=intermediate
        )

    finals = [1.0, 2.0, 2.0, 3.0, 5.0]
    early = [2.0, 1.0, 1.0, 4.0, 4.0]
    trials = [trial(final, {10: value, 20: 7.0, 30: value}) for final, value in zip(finals, early)]
    trials.append(trial(0.0, {10: 9.0, 30: math.nan}))
    trials.append(trial(None, {10: 0.0}, state=TrialState.PRUNED))
    agreement = step_agreement(trials)
    assert sorted(agreement) == [10, 20, 30]
    assert agreement[30].n == 5 and agreement[30].rho == pytest.approx(scipy_stats.spearmanr(early, finals).statistic)
    assert agreement[10].n == 6
    assert agreement[20].n == 5 and math.isnan(agreement[20].rho)  # one value for all: no ranking
    assert not agreement[20].trusted(3, -1.0)
    assert math.isnan(spearman_rho([1.0], [2.0]))
    with pytest.raises(ValueError, match="differ in length"):
        spearman_rho([1.0, 2.0], [1.0])


@pytest.mark.parametrize(
    "inner",
    [
        optuna.pruners.WilcoxonPruner(p_threshold=0.5, n_startup_steps=2),
        optuna.pruners.MedianPruner(n_startup_trials=0),
    ],
)
def test_the_gate_composes_with_seed_means_through_the_bridge(tmp_path, inner):
    """Two seeds per trial: the bridge reports their mean at each step, the gate and its inner pruner see it."""
    study = _study(tmp_path, CalibratedPruner(inner, min_complete=4, min_rho=0.8))
    bridge = OptunaBridge(study, ["val/main/mse"])
    ends = {}
    for number in range(len(XS)):
        ray_id = f"ray-{number}"
        bridge.ask(ray_id)
        seeds = [_curve(number), {step: value + 0.01 for step, value in _curve(number).items()}]
        for step in STEPS:
            mean = (seeds[0][step] + seeds[1][step]) / 2
            if bridge.report(ray_id, mean, step):
                ends[number] = step
                break
        else:
            result = {
                "val/main/mse": (seeds[0][3] + seeds[1][3]) / 2,
                **{seed_metric("val/main/mse", index): seed[3] for index, seed in enumerate(seeds)},
            }
            bridge.complete(ray_id, result)
    assert ends and set(ends.values()) == {3} and min(ends) >= 4
    trials = study.get_trials()
    assert all(trial.state in (TrialState.COMPLETE, TrialState.PRUNED) for trial in trials)
    steps = study.user_attrs[STUDY_ATTR_CALIBRATION]["steps"]
    assert steps["3"]["trusted"] and not steps["1"]["trusted"]


def test_status_prints_the_gate_one_line_per_step(tmp_path, capsys):
    spec_data = {
        "name": "gated",
        "objective": {"metric": "val/main/mse", "mode": "min"},
        "trial": {"model": "sweep_plugins:build", "steps": 3, "eval_every": 1},
        "space": {"parameters": {"lr": {"float": [1.0e-4, 3.0e-1], "log": True}}},
        "pruner": {"name": "median", "options": {"n_startup_trials": 0}, "calibrate": {}},
        "budget": {"num_samples": 8},
        "storage": {"path": str(tmp_path / "runs")},
    }
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec_data))
    spec = load_spec(spec_file)
    spec.paths.dir.mkdir(parents=True)
    spec.paths.spec_file.write_text(spec_to_yaml(spec))
    arguments = argparse.Namespace(name="gated", storage_path=str(tmp_path / "runs"), format="table")

    study = optuna.create_study(storage=study_storage(spec.optuna_url), study_name="gated", pruner=make_pruner(spec))
    status_command(arguments)
    assert "gate     no finished trial yet: the pruner waits for its calibration" in capsys.readouterr().out
    _run(study, range(8))
    status_command(arguments)
    lines = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith("gate     the pruner acts at steps where >= 6 finished trials never judged") for line in lines
    )
    assert [line.strip() for line in lines if line.strip().startswith("step")] == [
        "step      1: n   6, ρ -1.00, not trusted",
        f"step      2: n   6, ρ {study.user_attrs[STUDY_ATTR_CALIBRATION]['steps']['2']['rho']:+.2f}, not trusted",
        "step      3: n   6, ρ +1.00, trusted",
    ]
    status_command(argparse.Namespace(name="gated", storage_path=str(tmp_path / "runs"), format="json"))
    assert json.loads(capsys.readouterr().out)["calibration"] == study.user_attrs[STUDY_ATTR_CALIBRATION]
