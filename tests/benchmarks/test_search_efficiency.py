"""The search-efficiency suite: incumbent and budget accounting, the continuous surrogate, the plain replay, and the Ray arms."""

from __future__ import annotations

import math

import pytest

from benchmarks.landscapes import GridLandscape, SurrogateLandscape
from benchmarks.search_arms import ORACLE, RAY_ARMS, replay_optuna, run_search
from benchmarks.search_efficiency import (
    NO_PRUNING,
    confirmed_steps_to_target,
    latest_oracle_step,
    paired_check,
    steps_to_target,
    trajectory,
)

# Two cells × two, two recorded curves each (four evaluations of 100 steps): (1, 1) is the best.
LANDSCAPE = GridLandscape(
    steps=[100, 200, 300, 400],
    curves={
        (0.0, 0.0): [[0.9, 0.8, 0.8, 0.7], [0.9, 0.9, 0.8, 0.8]],
        (0.0, 1.0): [[0.8, 0.6, 0.5, 0.5], [0.7, 0.6, 0.6, 0.4]],
        (1.0, 0.0): [[0.8, 0.7, 0.6, 0.6], [0.9, 0.7, 0.7, 0.7]],
        (1.0, 1.0): [[0.5, 0.3, 0.2, 0.1], [0.6, 0.4, 0.3, 0.3]],
    },
)
# A gate that opens after three finished trials, around a median pruner that judges from the first one.
GATED = {"name": "median", "options": {"n_startup_trials": 1}, "calibrate": {"min_complete": 3, "min_rho": 0.5}}


def test_the_incumbent_is_the_cell_with_the_best_mean_of_its_completed_trials() -> None:
    trials = [
        {"cell": [1.0, 1.0], "observed": [0.6, 0.4, 0.3, 0.3]},  # the best cell, an unlucky seed
        {"cell": [0.0, 1.0], "observed": [0.7, 0.6, 0.6, 0.4]},
        {"cell": [0.0, 0.0], "observed": [0.1]},  # stopped after one report: spends 100 steps, never the incumbent
        {"cell": [1.0, 1.0], "observed": [0.5, 0.3, 0.2, 0.1]},
    ]

    points = trajectory(trials, LANDSCAPE, budget=10_000)

    assert [spent for spent, _ in points] == [400, 800, 900, 1300]
    assert [truth for _, truth in points] == [pytest.approx(0.2)] * 4  # (1, 1) leads from the start: 0.3 < 0.4
    assert steps_to_target(points, threshold=0.2 * 1.02) == 400
    assert math.isinf(steps_to_target(trajectory(trials[1:3], LANDSCAPE, budget=10_000), threshold=0.204))
    assert [spent for spent, _ in trajectory(trials, LANDSCAPE, budget=850)] == [400, 800]


def test_confirmation_finds_a_best_cell_ranked_below_a_lucky_one() -> None:
    trials = [
        {"cell": [1.0, 0.0], "observed": [0.8, 0.6, 0.5, 0.05]},  # a lucky draw: observed best, truly 0.65
        {"cell": [0.0, 0.0], "observed": [0.9, 0.8, 0.8, 0.7]},
        {"cell": [1.0, 1.0], "observed": [0.6, 0.4, 0.3, 0.3]},  # the best cell (0.2), seen third
    ]
    # The single-run incumbent stays the lucky cell; confirming the top 3 after trial 3 finds (1, 1).
    assert confirmed_steps_to_target(trials, LANDSCAPE, threshold=0.204) == 1200
    assert math.isinf(confirmed_steps_to_target(trials, LANDSCAPE, threshold=0.204, top=1))
    assert math.isinf(steps_to_target(trajectory(trials, LANDSCAPE, budget=10_000), threshold=0.204))


def test_the_surrogate_is_continuous_positive_and_never_better_than_the_best_cell() -> None:
    cells = [0.1, 0.3, 1.0, 3.0]  # PCHIP needs four per axis
    curves = {
        (a, b): [[(1 + abs(i - 2) + abs(j - 2)) * scale * value for value in (0.9, 0.7, 0.5)] for scale in (0.8, 1.25)]
        for i, a in enumerate(cells)
        for j, b in enumerate(cells)
    }
    curves.update({(0.0, b): [[1.0, 1.0, 1.0]] * 2 for b in cells})  # λ = 0 is off the log range
    surrogate = SurrogateLandscape(GridLandscape(steps=[100, 200, 300], curves=curves))

    assert surrogate.bounds == ((0.1, 3.0), (0.1, 3.0))
    (best_align, best_recon), best = surrogate.best
    assert best == pytest.approx(0.5, rel=1e-6)  # cell (1, 1)'s geometric seed mean (0.8 × 1.25 = 1)
    assert best_align == pytest.approx(1.0) and best_recon == pytest.approx(1.0)
    assert surrogate.truth((3.0, 0.5)) > best
    curve = surrogate.curve((3.0, 0.5), "0/(3.0, 0.5)/0")
    assert len(curve) == 3 and all(value > 0 for value in curve)
    assert curve == surrogate.curve((3.0, 0.5), "0/(3.0, 0.5)/0")  # seeded
    assert 0 < surrogate.share_within(0.1) < 1


@pytest.mark.parametrize("pruner", [{"name": "none"}, GATED])
def test_the_plain_replay_spends_its_budget_on_recorded_curve_prefixes(pruner: dict) -> None:
    budget = 6 * LANDSCAPE.steps[-1]

    trials = replay_optuna(LANDSCAPE, pruner, seed=0, budget=budget)

    for trial in trials:
        assert any(
            curve[: len(trial["observed"])] == trial["observed"] for curve in LANDSCAPE.curves[tuple(trial["cell"])]
        )
    assert sum(len(trial["observed"]) for trial in trials) * LANDSCAPE.steps[0] == budget


def test_the_oracle_stops_every_point_but_the_best_at_its_step_and_no_earlier() -> None:
    pruner = {"name": ORACLE, "options": {"at": 200, "within": 0.02}}

    trials = replay_optuna(LANDSCAPE, pruner, seed=0, budget=12 * LANDSCAPE.steps[-1])

    finished = trials[:-1]  # the last one may be cut by the budget
    assert {len(trial["observed"]) for trial in finished if trial["cell"] != [1.0, 1.0]} == {2}
    assert {len(trial["observed"]) for trial in finished if trial["cell"] == [1.0, 1.0]} == {4}
    assert any(trial["cell"] != [1.0, 1.0] for trial in finished), "only the best point was sampled"


def test_the_paired_check_counts_seeds_lost_and_gained_and_pairs_the_step_ratios() -> None:
    best = {"cell": [1.0, 1.0], "observed": [0.5, 0.3, 0.2, 0.1]}
    worse = {"cell": [0.0, 0.0], "observed": [0.9, 0.8, 0.8, 0.7]}
    stopped = {"cell": [0.0, 0.0], "observed": [0.9]}
    runs = {
        NO_PRUNING: [{"trials": [worse, best]}, {"trials": [worse, best]}, {"trials": [worse, worse]}],
        "pruned": [{"trials": [stopped, best]}, {"trials": [worse, worse]}, {"trials": [best]}],
    }

    checked = paired_check(runs, LANDSCAPE, seeds=3)

    assert checked[NO_PRUNING] | {"steps_ratio_ci": None} == {
        "seeds": 3,
        "reached": 2,
        "lost": 0,
        "gained": 0,
        "p_reach": 1.0,
        "steps_ratio": 1.0,
        "steps_ratio_ci": None,
    }
    pruned = checked["pruned"]
    assert (pruned["reached"], pruned["lost"], pruned["gained"]) == (2, 1, 1)
    assert pruned["p_reach"] == pytest.approx(1.0)
    assert pruned["steps_ratio"] == pytest.approx(500 / 800)  # the one seed both reached: 100 + 400 vs 800
    assert pruned["steps_ratio_ci"] == pytest.approx([500 / 800, 500 / 800])


def test_the_latest_oracle_step_is_the_last_that_stays_within_the_steps() -> None:
    bounds = [
        {"at": 100, "steps_to_best_median": 900.0},
        {"at": 200, "steps_to_best_median": 1200.0},
        {"at": 300, "steps_to_best_median": math.inf},
    ]

    assert latest_oracle_step(bounds, 1000) == 100
    assert latest_oracle_step(bounds, 1500) == 200
    assert latest_oracle_step(bounds, 500) is None


def test_the_bridge_makes_the_same_trials_as_the_plain_replay(local_ray, tmp_path) -> None:
    budget = 8 * LANDSCAPE.steps[-1]

    through_bridge = run_search("weightsearch", LANDSCAPE, seed=0, budget=budget, workdir=tmp_path, pruner=GATED)

    replayed = replay_optuna(LANDSCAPE, GATED, seed=0, budget=budget)
    assert through_bridge == replayed
    assert any(len(trial["observed"]) < len(LANDSCAPE.steps) for trial in replayed[:-1]), "nothing was pruned"


@pytest.mark.parametrize("arm", RAY_ARMS[1:])  # the ASHA arms; RAY_ARMS[0] is the same search without a scheduler
def test_every_ray_arm_searches_within_its_step_budget(local_ray, tmp_path, arm: str) -> None:
    budget = 3 * LANDSCAPE.steps[-1]

    trials = run_search(arm, LANDSCAPE, seed=0, budget=budget, workdir=tmp_path)

    assert trials, "no trial reported"
    for trial in trials:
        assert any(
            curve[: len(trial["observed"])] == trial["observed"] for curve in LANDSCAPE.curves[tuple(trial["cell"])]
        )
    spent = sum(len(trial["observed"]) for trial in trials) * LANDSCAPE.steps[0]
    assert budget <= spent < budget + LANDSCAPE.steps[-1]  # the stopper ends the search at the first report past it
