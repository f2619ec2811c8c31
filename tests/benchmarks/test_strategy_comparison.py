"""The strategy-comparison suite searches each family's own shipped space and compares families paired by seed."""

from __future__ import annotations

import json

import optuna
import pytest

from benchmarks import strategy_comparison
from benchmarks.common import write_report


@pytest.mark.parametrize("family", strategy_comparison.FAMILIES)
def test_each_family_samples_only_its_own_strategy_and_the_lr(family: str) -> None:
    space, file_name = strategy_comparison.family_space(family)
    base = strategy_comparison.base_config(strategy_comparison.QUICK)

    params = space.sample(optuna.create_study().ask())
    config = space.resolve(base, params)

    assert file_name in strategy_comparison.SPACE_FILES
    assert space.strategy_names() == [family]
    assert config.strategy == family
    assert 1e-3 <= config.lr <= 1e-2
    assert {path.split(".")[0] for path in params} <= {"strategy", "strategy_params", "lr"}


def test_a_small_run_pairs_families_by_seed_and_writes_the_report(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strategy_comparison, "FAMILIES", ("fixed", "rlw"))
    budget = strategy_comparison.Budget(size="tiny", steps=2, trials=2, repetitions=2, startup_trials=1)
    monkeypatch.setattr(strategy_comparison, "QUICK", budget)

    report = strategy_comparison.run(quick=True, out_dir=tmp_path)

    trials = report.results["trials"]
    assert len(trials) == 2 * 2 * 2
    seeds = {
        family: sorted(trial["seed"] for trial in trials if trial["family"] == family) for family in ("fixed", "rlw")
    }
    assert seeds["fixed"] == seeds["rlw"] == [0, 1, 1000, 1001]
    for family, figures in report.results["families"].items():
        own = [trial for trial in trials if trial["family"] == family]
        for repetition, best in figures["best_per_repetition"].items():
            assert best == min(trial["objective"] for trial in own if trial["repetition"] == repetition)
        assert figures["best"]["n"] == 2
    assert report.results["families"]["fixed"]["difference_to_fixed"]["max"] == 0.0
    assert (tmp_path / "strategy_comparison.png").stat().st_size > 0
    written = json.loads(write_report(report, tmp_path).read_text())
    assert len(written["results"]["trials"]) == 8
