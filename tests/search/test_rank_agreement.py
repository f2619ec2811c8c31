"""Rank agreement between a search and its confirmation: Spearman ρ with a bootstrap interval over paired
seeds (weightsearch.stats), as the confirmation report computes, prints and stores it, and the spec's
target scale (`confirm: {set: {...}}`)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from weightsearch.cli.confirm import report_lines
from weightsearch.config import TrialConfig, load_spec
from weightsearch.errors import UserError
from weightsearch.search.confirm import confirmation_report
from weightsearch.search.confirm_plan import Candidate, ConfirmationPlan
from weightsearch.stats import rank_agreement


def test_rank_agreement_bootstraps_over_paired_seeds():
    rng = np.random.default_rng(0)
    means = np.arange(5.0)
    clear = means[:, None] + rng.normal(0, 0.01, (5, 8))
    agreement = rank_agreement(means, clear)
    assert agreement.rho == pytest.approx(1.0) and agreement.ci_low == pytest.approx(1.0)
    assert (agreement.configurations, agreement.seeds, agreement.resamples) == (5, 8, 2000)
    assert rank_agreement(-means, clear).rho == pytest.approx(-1.0)
    # Seed noise as large as the gaps: a wide interval around ρ, and the same one for the same seed.
    noisy = means[:, None] + rng.normal(0, 2.0, (5, 8))
    agreement = rank_agreement(means, noisy)
    assert agreement.ci_low < agreement.rho <= agreement.ci_high and agreement.ci_high - agreement.ci_low > 0.3
    assert rank_agreement(means, noisy) == agreement
    with pytest.raises(ValueError, match="at least 3 configurations"):
        rank_agreement(means[:2], noisy[:2])
    with pytest.raises(ValueError, match="one row of seed values per reference value"):
        rank_agreement(means, noisy[:4])


def _report(search_values: list[float], confirmed: list[list[float]]):
    """A confirmation report over searched trials 0, 1, … and one baseline, from recorded seed values."""
    trial = TrialConfig()
    candidates = [
        Candidate(f"trial-{number}", f"trial {number}", number, trial, {}, value)
        for number, value in enumerate(search_values)
    ]
    candidates.append(Candidate("baseline-equal", "equal", None, trial, {}, None))
    seeds = list(range(len(confirmed[0])))
    plan = ConfirmationPlan("val/main/mse", True, seeds, {}, candidates, "equal")
    values = [*confirmed, [9.0] * len(seeds)]
    results = {
        unit.attr: {"value": values[candidates.index(unit.candidate)][seeds.index(unit.seed)]} for unit in plan.units
    }
    return confirmation_report("paired", plan, results).to_json()


def test_the_confirmation_reports_and_prints_the_rank_agreement():
    report = _report([1.0, 2.0, 3.0], [[1.1, 0.9, 1.0], [2.2, 1.8, 2.0], [2.9, 3.1, 3.0]])
    agreement = report["rank_agreement"]
    assert agreement["rho"] == pytest.approx(1.0) and agreement["configurations"] == 3  # the baseline is not ranked
    assert agreement["search_best"] == agreement["confirmed_best"] == "trial 0"
    assert agreement["search_best_is_confirmed_best"] is True
    assert (
        "Spearman ρ = 1.00 [95% bootstrap CI over seeds 1.00, 1.00]; the search's best (trial 0) is the confirmed"
        in report_lines(report)[-1]
    )

    swapped = _report([1.0, 2.0, 3.0], [[2.1, 1.9, 2.0], [1.2, 0.8, 1.0], [2.9, 3.1, 3.0]])["rank_agreement"]
    assert swapped["rho"] == pytest.approx(0.5) and swapped["search_best_is_confirmed_best"] is False
    assert swapped["confirmed_best"] == "trial 1"
    assert _report([1.0, 2.0], [[1.0, 1.1], [2.0, 2.1]])["rank_agreement"] is None  # two are no ranking


def _spec(tmp_path, confirm: dict):
    path = tmp_path / "spec.yaml"
    spec = {
        "name": "scaled",
        "trial": {"model": "reference", "options": {"size": "tiny"}, "steps": 300, "eval_every": 50},
        "space": {"strategy": {"fixed": {"weights": {"simplex": ["action", "align"]}}}},
        "budget": {"num_samples": 4},
        "confirm": confirm,
    }
    path.write_text(yaml.safe_dump(spec))
    return load_spec(path)


def test_the_spec_names_the_target_scale(tmp_path):
    spec = _spec(tmp_path, {"top": 3, "set": {"trial.steps": 800, "trial.options.size": "small"}})
    assert sorted(spec.confirm.scale_settings()) == ['trial.options.size="small"', "trial.steps=800"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"trial.stepz": 800}, "spec field 'confirm.set.trial.stepz': the trial has no field 'stepz'; valid: model,"),
        ({"steps": 800}, "spec field 'confirm.set.steps': write trial.KEY: value"),
        (
            {"trial.steps": -1},
            "spec field 'confirm.set': the target scale gives an invalid trial: field 'steps': must be",
        ),
    ],
)
def test_a_bad_target_scale_is_one_line(tmp_path, changes, expected):
    with pytest.raises(UserError) as error:
        _spec(tmp_path, {"set": changes})
    assert len(str(error.value).splitlines()) == 1 and expected in str(error.value), str(error.value)
