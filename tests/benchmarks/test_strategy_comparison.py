"""The strategy-comparison suite searches each family's own shipped space, confirms the best on fresh paired seeds
and resumes from its run log."""

from __future__ import annotations

import optuna
import pytest

from benchmarks import strategy_comparison
from weightsearch.search.confirm_plan import SEED_OFFSET


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


@pytest.mark.parametrize(
    ("low", "high", "expected"), [(-2.0, -1.0, "better"), (1.0, 2.0, "worse"), (-1.0, 1.0, "indistinguishable")]
)
def test_the_verdict_is_where_the_paired_interval_lies(low: float, high: float, expected: str) -> None:
    assert strategy_comparison.verdict({"ci_low": low, "ci_high": high}) == expected


def test_a_small_run_confirms_each_best_on_paired_fresh_seeds_and_resumes_from_its_log(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(strategy_comparison, "FAMILIES", ("fixed", "rlw"))
    budget = strategy_comparison.Budget(size="tiny", steps=2, trials=2, startup_trials=1, confirm_seeds=2)
    log = tmp_path / "runs.jsonl"

    families, records = strategy_comparison.compare(budget, tmp_path, log)

    assert len(records) == 2 * (2 + 2)
    assert len(log.read_text().splitlines()) == 8
    for family in ("fixed", "rlw"):
        own = [record for record in records if record["family"] == family]
        assert sorted(record["seed"] for record in own if record["phase"] == "search") == [0, 1]
        confirmations = [record for record in own if record["phase"] == "confirm"]
        assert sorted(record["seed"] for record in confirmations) == [SEED_OFFSET, SEED_OFFSET + 1]
        search_best = min(record["objective"] for record in own if record["phase"] == "search")
        assert families[family]["search_best"] == search_best
        assert all(record["params"] == families[family]["best_params"] for record in confirmations)
        assert families[family]["confirmed"]["values"] == [
            record["objective"] for record in sorted(confirmations, key=lambda record: record["seed"])
        ]
    assert families["fixed"]["verdict"] == "baseline"
    assert families["rlw"]["difference_to_fixed"]["seeds"] == 2
    assert (tmp_path / "strategy_comparison.png").stat().st_size > 0

    replayed, again = strategy_comparison.compare(budget, tmp_path, log)

    assert all(record["cached"] for record in again)
    assert replayed == families
    assert len(log.read_text().splitlines()) == 8
    assert "Better than tuned fixed beyond the seed spread" in strategy_comparison.markdown(families, budget)


def test_the_run_log_drops_a_line_cut_off_by_a_kill_and_appends_after_it(tmp_path) -> None:
    log = tmp_path / "runs.jsonl"
    log.write_text('{"config": {"seed": 0}, "outcome": {"objective": 0.1}}\n{"config": {"se')

    cache = strategy_comparison.RunCache(log)
    cache.add({"seed": 1}, {"objective": 0.2})

    reloaded = strategy_comparison.RunCache(log)
    assert reloaded.get({"seed": 0}) == {"objective": 0.1}
    assert reloaded.get({"seed": 1}) == {"objective": 0.2}
    assert len(log.read_text().splitlines()) == 2
