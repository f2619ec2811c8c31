"""Statistics of paired seeds, defined once: a configuration's mean with its confidence interval, and
a paired comparison with a baseline (difference, interval, paired t and Wilcoxon p-values, wins)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class SeedSummary:
    """One configuration over its seeds: mean with a t interval, median and every seed's value."""

    mean: float
    ci_low: float
    ci_high: float
    median: float
    values: list[float]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PairedComparison:
    """``values - baseline`` seed by seed: mean difference with a t interval, two paired tests, wins.

    ``wins`` counts the seeds on which the configuration is better (lower when minimising).
    """

    mean_difference: float
    ci_low: float
    ci_high: float
    p_t: float
    p_wilcoxon: float
    wins: int
    seeds: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize_seeds(values: Sequence[float], confidence: float = CONFIDENCE) -> SeedSummary:
    """Mean, ``confidence`` t interval (needs ≥ 2 values) and median of ``values``."""
    array = _finite(values, "values")
    low, high = _t_interval(array, confidence)
    return SeedSummary(float(array.mean()), low, high, float(np.median(array)), [float(value) for value in array])


def compare_paired(
    values: Sequence[float],
    baseline: Sequence[float],
    *,
    minimize: bool = True,
    confidence: float = CONFIDENCE,
) -> PairedComparison:
    """Compare ``values`` with ``baseline`` measured on the same seeds (same order).

    The interval is Student's t on the differences; the p-values are two-sided: the paired t-test
    and the Wilcoxon signed-rank test (exact for small samples; 1.0 when every difference is 0).
    """
    ours, theirs = _finite(values, "values"), _finite(baseline, "baseline")
    if ours.shape != theirs.shape:
        raise ValueError(f"paired samples differ in length: {len(ours)} vs {len(theirs)}")
    differences = ours - theirs
    low, high = _t_interval(differences, confidence)
    if np.all(differences == 0):
        p_t = p_wilcoxon = 1.0
    else:
        p_t = float(scipy_stats.ttest_rel(ours, theirs).pvalue)
        p_wilcoxon = float(scipy_stats.wilcoxon(differences).pvalue)
        if math.isnan(p_t):  # every difference equal but non-zero: no spread, the t-test is undefined
            p_t = 0.0
    wins = int(np.sum(differences < 0 if minimize else differences > 0))
    return PairedComparison(float(differences.mean()), low, high, p_t, p_wilcoxon, wins, len(differences))


def _finite(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) < 2:
        raise ValueError(f"{name}: need at least 2 seeds for an interval, got {len(array)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: non-finite values {array.tolist()}")
    return array


def _t_interval(array: np.ndarray, confidence: float) -> tuple[float, float]:
    mean = float(array.mean())
    half_width = float(scipy_stats.t.ppf(0.5 + confidence / 2, len(array) - 1) * array.std(ddof=1) / math.sqrt(len(array)))
    return mean - half_width, mean + half_width
