"""Averages of the per-step training metrics between two reports."""

from __future__ import annotations

from collections.abc import Mapping


class MetricAverager:
    """Running mean per metric name, each over the steps that produced it (absent tasks do not count)."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, metrics: Mapping[str, float]) -> None:
        """Add one step's metrics."""
        for name, value in metrics.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(value)
            self._counts[name] = self._counts.get(name, 0) + 1

    def pop_means(self) -> dict[str, float]:
        """The means since the last call, then start over."""
        means = {name: total / self._counts[name] for name, total in self._sums.items()}
        self._sums.clear()
        self._counts.clear()
        return means
