"""The search-efficiency suite: its incumbent and budget accounting, and every search arm on a real local Ray."""

from __future__ import annotations

import math

import pytest

from benchmarks import search_efficiency
from benchmarks.search_efficiency import (
    Landscape,
    confirmed_steps_to_target,
    run_search,
    steps_to_target,
    trajectory,
)

# Two cells × two, two recorded curves each (four evaluations of 100 steps): (1, 1) is the best.
LANDSCAPE = Landscape(
    steps=[100, 200, 300, 400],
    curves={
        (0.0, 0.0): [[0.9, 0.8, 0.8, 0.7], [0.9, 0.9, 0.8, 0.8]],
        (0.0, 1.0): [[0.8, 0.6, 0.5, 0.5], [0.7, 0.6, 0.6, 0.4]],
        (1.0, 0.0): [[0.8, 0.7, 0.6, 0.6], [0.9, 0.7, 0.7, 0.7]],
        (1.0, 1.0): [[0.5, 0.3, 0.2, 0.1], [0.6, 0.4, 0.3, 0.3]],
    },
)


def test_the_incumbent_is_the_cell_with_the_best_mean_of_its_completed_trials() -> None:
    trials = [
        {"cell": [1.0, 1.0], "observed": [0.6, 0.4, 0.3, 0.3]},  # the best cell, an unlucky seed
        {"cell": [0.0, 1.0], "observed": [0.7, 0.6, 0.6, 0.4]},
        {"cell": [0.0, 0.0], "observed": [0.1]},  # stopped after one report: spends 100 steps, never the incumbent
        {"cell": [1.0, 1.0], "observed": [0.5, 0.3, 0.2, 0.1]},
    ]

    points = trajectory(trials, LANDSCAPE, budget=10_000)

    assert [spent for spent, _ in points] == [400, 800, 900, 1300]
    truths = [truth for _, truth in points]
    assert truths[:3] == [pytest.approx(0.2)] * 3  # (1, 1) leads from the start: mean 0.3 < 0.4
    assert truths[3] == pytest.approx(0.2)
    assert steps_to_target(points, threshold=0.2 * 1.02) == 400
    assert math.isinf(steps_to_target(trajectory(trials[1:3], LANDSCAPE, budget=10_000), threshold=0.204))
    assert [spent for spent, _ in trajectory(trials, LANDSCAPE, budget=850)] == [400, 800]


def test_confirmation_counts_its_own_steps_and_finds_a_best_cell_ranked_below_a_lucky_one() -> None:
    trials = [
        {"cell": [1.0, 0.0], "observed": [0.8, 0.6, 0.5, 0.05]},  # a lucky draw: observed best, truly 0.65
        {"cell": [0.0, 0.0], "observed": [0.9, 0.8, 0.8, 0.7]},
        {"cell": [1.0, 1.0], "observed": [0.6, 0.4, 0.3, 0.3]},  # the best cell (0.2), seen third
    ]
    # The single-run incumbent stays the lucky cell; confirming the top 3 after trial 3 finds (1, 1):
    # 1,200 search steps + 3 cells x 2 recorded seeds x 400 steps.
    assert confirmed_steps_to_target(trials, LANDSCAPE, threshold=0.204) == 1200 + 3 * 2 * 400
    # Confirming only the top 1 never looks past the lucky cell.
    assert math.isinf(confirmed_steps_to_target(trials, LANDSCAPE, threshold=0.204, top=1))
    assert math.isinf(steps_to_target(trajectory(trials, LANDSCAPE, budget=10_000), threshold=0.204))


@pytest.mark.parametrize("arm", search_efficiency.ARMS)
def test_every_arm_searches_the_grid_within_its_step_budget(local_ray, tmp_path, arm: str) -> None:
    budget = 3 * LANDSCAPE.steps[-1]

    trials = run_search(arm, LANDSCAPE, seed=0, budget=budget, workdir=tmp_path)

    assert trials, "no trial reported"
    for trial in trials:
        cell = tuple(trial["cell"])
        assert cell in LANDSCAPE.curves
        # Each trial replays a prefix of one of its cell's recorded curves.
        assert any(curve[: len(trial["observed"])] == trial["observed"] for curve in LANDSCAPE.curves[cell])
    spent = sum(len(trial["observed"]) for trial in trials) * LANDSCAPE.steps[0]
    # The stopper ends the search at the first report past the budget.
    assert budget <= spent < budget + LANDSCAPE.steps[-1]
