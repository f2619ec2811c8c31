"""Paired-seed statistics against values computed by hand and by scipy's reference functions."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from weightsearch.stats import compare_paired, summarize_seeds


def test_summary_matches_the_t_interval_by_hand() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    summary = summarize_seeds(values)
    half = scipy_stats.t.ppf(0.975, 3) * math.sqrt(5 / 3) / 2  # sd of 1..4 is sqrt(5/3)
    assert summary.mean == 2.5 and summary.median == 2.5 and summary.values == values
    assert summary.ci_low == pytest.approx(2.5 - half) and summary.ci_high == pytest.approx(2.5 + half)


def test_paired_comparison_of_a_clearly_better_configuration() -> None:
    baseline = [10.0, 12.0, 9.0, 11.0, 13.0, 10.5, 12.5, 9.5]
    better = [value - 3.0 + 0.1 * index for index, value in enumerate(baseline)]
    comparison = compare_paired(better, baseline)
    assert comparison.wins == 8 and comparison.seeds == 8
    assert comparison.mean_difference == pytest.approx(-3.0 + 0.35)
    assert comparison.ci_high < 0  # the whole interval lies below zero
    assert comparison.p_t == pytest.approx(scipy_stats.ttest_rel(better, baseline).pvalue)
    assert comparison.p_wilcoxon == pytest.approx(2 / 2**8)  # exact two-sided: all 8 signs agree


def test_maximising_counts_wins_upwards_and_noise_is_not_significant() -> None:
    noise = compare_paired([1.0, 2.0, 1.0, 2.0], [2.0, 1.0, 2.0, 1.0], minimize=False)
    assert noise.wins == 2 and noise.p_t > 0.5 and noise.ci_low < 0 < noise.ci_high
    assert compare_paired([1.0, 1.0], [1.0, 1.0]).p_wilcoxon == 1.0


@pytest.mark.parametrize(("values", "baseline"), [([1.0], [2.0]), ([1.0, float("nan")], [1.0, 2.0]), ([1.0, 2.0], [1.0])])
def test_too_few_or_bad_values_are_rejected(values: list[float], baseline: list[float]) -> None:
    with pytest.raises(ValueError):
        compare_paired(values, baseline)
