"""The landscapes the search-efficiency suite replays: recorded learning-curve grids and a continuous surrogate of one.

A landscape answers what a trial at a point would report (one learning curve, seeded) and what the
point is truly worth (its seed-mean final value), and says how a search space over it is written.

- :class:`GridLandscape`: a recorded grid (``benchmarks/reference_grid.py``, ``benchmarks/plugin_landscape.py``):
  a trial replays one of its cell's recorded curves, drawn by a seeded random choice; the true value is
  the mean of the cell's recorded final values.
- :class:`SurrogateLandscape`: a continuous surrogate fitted to a recorded grid, as surrogate HPO
  benchmarks do: both λ continuous and log-uniform on the grid's positive range; per evaluation step, the
  cells' mean log-curves are interpolated by a tensor-product PCHIP in (log λ, log λ) (smooth, and
  without overshoot: no point is better than the best cell, and the optimum is a smooth basin around
  it, not a cusp), and a trial's curve is that mean times the seed noise of a recorded curve of one of
  the four surrounding cells (its log-ratio to its cell's mean log-curve, drawn by a seeded random
  choice). The true value is the noise-free final value (the geometric seed mean).
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Point = tuple[float, float]


@dataclass
class GridLandscape:
    """A recorded grid: every cell's curves (evaluated at ``steps``) and its true (seed-mean final) value."""

    steps: list[int]
    curves: dict[Point, list[list[float]]]
    name: str = "grid"
    axes: tuple[str, str] = ("align", "recon")
    seeds: int = field(init=False)

    def __post_init__(self) -> None:
        self.seeds = min(len(curves) for curves in self.curves.values())

    @property
    def axis_values(self) -> tuple[list[float], list[float]]:
        return sorted({first for first, _ in self.curves}), sorted({second for _, second in self.curves})

    def truth(self, point: Point) -> float:
        return statistics.fmean(curve[-1] for curve in self.curves[point])

    @property
    def best(self) -> tuple[Point, float]:
        point = min(self.curves, key=self.truth)
        return point, self.truth(point)

    def curve(self, point: Point, key: str) -> list[float]:
        """The curve a trial at ``point`` replays: a recorded one, chosen by ``key`` (search seed, point, visit)."""
        return random.Random(key).choice(self.curves[point])

    def parameters(self) -> dict[str, Any]:
        """The search space, as a sweep spec's ``space.parameters`` (two choices over the recorded values)."""
        first, second = self.axis_values
        return {"options.align": {"choice": first}, "options.recon": {"choice": second}}

    def ray_space(self) -> dict[str, Any]:
        from ray import tune

        first, second = self.axis_values
        return {"align": tune.choice(first), "recon": tune.choice(second)}


def load_grid(path: Path, name: str = "grid", axes: tuple[str, str] = ("align", "recon")) -> GridLandscape:
    """Read a grid's JSON lines (one finished training run each: ``align``, ``recon``, ``curve``)."""
    curves: dict[Point, list[list[float]]] = defaultdict(list)
    steps: list[int] | None = None
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        run = json.loads(line)
        run_steps = [int(step) for step, _ in run["curve"]]
        if steps is None:
            steps = run_steps
        if run_steps != steps:
            raise ValueError(f"{path}: runs evaluated at different steps ({run_steps} vs {steps}); record it again")
        curves[(float(run["align"]), float(run["recon"]))].append([float(value) for _, value in run["curve"]])
    if not steps:
        raise ValueError(f"{path} holds no runs; record it first")
    return GridLandscape(steps=steps, curves=dict(curves), name=name, axes=axes)


class SurrogateLandscape:
    """A continuous surrogate of a recorded grid's positive cells (see the module docstring)."""

    def __init__(self, grid: GridLandscape, name: str = "continuous surrogate") -> None:
        import numpy as np
        from scipy.interpolate import RegularGridInterpolator

        self.name, self.axes, self.steps, self.seeds = name, grid.axes, grid.steps, grid.seeds
        first, second = ([value for value in values if value > 0] for values in grid.axis_values)
        self.logs = (np.log(first), np.log(second))
        self.bounds = ((first[0], first[-1]), (second[0], second[-1]))
        log_curves = {
            (i, j): np.log(np.array(grid.curves[(a, b)])) for i, a in enumerate(first) for j, b in enumerate(second)
        }
        means = {cell: curves.mean(axis=0) for cell, curves in log_curves.items()}
        table = np.array([[means[(i, j)] for j in range(len(second))] for i in range(len(first))])
        self.interpolate = RegularGridInterpolator(self.logs, table, method="pchip")  # every step at once
        self.final_table = table[..., -1]
        self._fine: tuple[Any, Any, Any] | None = None
        self.residuals = {cell: [list(curve - means[cell]) for curve in curves] for cell, curves in log_curves.items()}
        self.shape = (len(first), len(second))
        self._best: tuple[Point, float] | None = None

    def _mean_log(self, point: Point) -> list[float]:
        return [float(value) for value in self.interpolate([[math.log(point[0]), math.log(point[1])]])[0]]

    def _final_grid(self) -> tuple[Any, Any, Any]:
        """The true (final) values on a fine log grid over the range (201 × 201 points and the cells)."""
        import numpy as np
        from scipy.interpolate import PchipInterpolator

        if self._fine is None:
            first, second = (np.union1d(np.linspace(logs[0], logs[-1], 201), logs) for logs in self.logs)
            # The same tensor-product PCHIP as ``interpolate`` (last axis first), separably: fast on many points.
            along_second = PchipInterpolator(self.logs[1], self.final_table, axis=1)(second)
            self._fine = first, second, np.exp(PchipInterpolator(self.logs[0], along_second, axis=0)(first))
        return self._fine

    def truth(self, point: Point) -> float:
        return math.exp(self._mean_log(point)[-1])

    @property
    def best(self) -> tuple[Point, float]:
        """The surrogate's optimum, on the fine grid."""
        if self._best is None:
            import numpy as np

            first, second, values = self._final_grid()
            i, j = np.unravel_index(int(values.argmin()), values.shape)
            self._best = (math.exp(first[i]), math.exp(second[j])), float(values[i, j])
        return self._best

    def share_within(self, within: float) -> float:
        """The share of the (log) search space whose true value is within ``within`` of the best."""
        values = self._final_grid()[2]
        return float((values <= self.best[1] * (1 + within)).mean())

    def curve(self, point: Point, key: str) -> list[float]:
        """The noise-free mean curve at ``point`` times the seed noise of a recorded curve of a surrounding cell."""
        import numpy as np

        draw = random.Random(key)
        corners = [
            (int(np.clip(np.searchsorted(self.logs[axis], math.log(point[axis])) - offset, 0, self.shape[axis] - 1)))
            for axis in (0, 1)
            for offset in (0, 1)
        ]
        cell = (draw.choice(corners[:2]), draw.choice(corners[2:]))
        noise = draw.choice(self.residuals[cell])
        return [math.exp(mean + offset) for mean, offset in zip(self._mean_log(point), noise)]

    def parameters(self) -> dict[str, Any]:
        (low_a, high_a), (low_r, high_r) = self.bounds
        return {
            "options.align": {"float": [low_a, high_a], "log": True},
            "options.recon": {"float": [low_r, high_r], "log": True},
        }

    def ray_space(self) -> dict[str, Any]:
        from ray import tune

        (low_a, high_a), (low_r, high_r) = self.bounds
        return {"align": tune.loguniform(low_a, high_a), "recon": tune.loguniform(low_r, high_r)}


Landscape = GridLandscape | SurrogateLandscape


def point_of(values: dict[str, Any]) -> Point:
    """The landscape point of a sampled config (the product's ``options.*`` paths or Ray's flat keys)."""
    options = values["trial"]["options"] if "trial" in values else values
    if "options.align" in options:
        return float(options["options.align"]), float(options["options.recon"])
    return float(options["align"]), float(options["recon"])
