"""Statistics of paired seeds, defined once: a configuration's mean with its confidence interval, and
a paired comparison with a baseline (difference, interval, paired t and Wilcoxon p-values, wins) and the
rank agreement of two paired samples (Spearman's ρ).

scipy.stats is imported inside the functions that use it: a sweep driver imports this module (through the
calibrated pruner) and would otherwise pay ~1.5 s of its start for it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

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
    from scipy import stats as scipy_stats

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


def spearman_rho(first: Sequence[float], second: Sequence[float]) -> float:
    """Spearman's rank correlation of two paired samples, ties given their average rank; NaN when
    either sample is constant (no ranking to agree with) or has fewer than 2 values."""
    from scipy import stats as scipy_stats

    ranks_first, ranks_second = scipy_stats.rankdata(first), scipy_stats.rankdata(second)
    if len(ranks_first) != len(ranks_second):
        raise ValueError(f"paired samples differ in length: {len(ranks_first)} vs {len(ranks_second)}")
    if len(ranks_first) < 2 or np.ptp(ranks_first) == 0 or np.ptp(ranks_second) == 0:
        return math.nan
    return float(np.corrcoef(ranks_first, ranks_second)[0, 1])


@dataclass(frozen=True)
class RankAgreement:
    """Spearman ρ between a reference ranking and configurations' means over paired seeds, with a bootstrap interval."""

    rho: float
    ci_low: float
    ci_high: float
    configurations: int
    seeds: int
    resamples: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def rank_agreement(
    reference: Sequence[float],
    values: Sequence[Sequence[float]],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = 2000,
    seed: int = 0,
) -> RankAgreement:
    """ρ between ``reference`` (one value per configuration) and the configurations' seed means.

    ``values[i][j]`` is configuration ``i`` on seed ``j``, the seeds paired across configurations. The
    interval is the percentile bootstrap over seeds: each resample draws seeds with replacement, the
    same draw for every configuration, and recomputes the means and ρ (resamples whose means tie into
    no ranking at all are left out).
    """
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != len(reference):
        raise ValueError(f"values: need one row of seed values per reference value ({len(reference)})")
    if matrix.shape[0] < 3:
        raise ValueError(f"a ranking needs at least 3 configurations, got {matrix.shape[0]}")
    rng = np.random.default_rng(seed)
    draws = rng.integers(matrix.shape[1], size=(resamples, matrix.shape[1]))
    rho = float(_rank_correlations(reference, matrix.mean(axis=1)[None, :])[0])
    rhos = _rank_correlations(reference, matrix[:, draws].mean(axis=2).T)
    rhos = rhos[np.isfinite(rhos)]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(rhos, [tail, 100 - tail]) if len(rhos) else (math.nan, math.nan)
    return RankAgreement(rho, float(low), float(high), matrix.shape[0], matrix.shape[1], len(rhos))


def _rank_correlations(reference: Sequence[float], rows: np.ndarray) -> np.ndarray:
    """Spearman ρ of ``reference`` with each row of ``rows`` (ties: average ranks; NaN for a constant row)."""
    from scipy import stats as scipy_stats

    centre = (len(reference) + 1) / 2
    ranks = scipy_stats.rankdata(rows, axis=1) - centre
    reference_ranks = scipy_stats.rankdata(reference) - centre
    with np.errstate(invalid="ignore", divide="ignore"):  # a row whose values all tie has no ranking
        correlations = ranks @ reference_ranks / (np.linalg.norm(ranks, axis=1) * np.linalg.norm(reference_ranks))
    return np.clip(correlations, -1.0, 1.0)


def _finite(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) < 2:
        raise ValueError(f"{name}: need at least 2 seeds for an interval, got {len(array)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: non-finite values {array.tolist()}")
    return array


def _t_interval(array: np.ndarray, confidence: float) -> tuple[float, float]:
    from scipy import stats as scipy_stats

    mean = float(array.mean())
    half_width = float(scipy_stats.t.ppf(0.5 + confidence / 2, len(array) - 1) * array.std(ddof=1) / math.sqrt(len(array)))
    return mean - half_width, mean + half_width
