"""Non-dominated sorting of minimized cost vectors: the Pareto ranks `status` and `best` show (stdlib only)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence


def pareto_levels(costs: Mapping[Hashable, Sequence[float]]) -> dict[Hashable, int]:
    """Level 0 is the Pareto front of ``costs`` (each minimized), level 1 the front of the rest, …"""
    remaining = dict(costs)
    levels: dict[Hashable, int] = {}
    level = 0
    while remaining:
        front = [key for key, cost in remaining.items() if not any(dominates(other, cost) for other in remaining.values())]
        for key in front:
            levels[key] = level
            del remaining[key]
        level += 1
    return levels


def dominates(first: Sequence[float], second: Sequence[float]) -> bool:
    """``first`` is no worse than ``second`` in every cost and better in one."""
    return all(a <= b for a, b in zip(first, second)) and any(a < b for a, b in zip(first, second))
