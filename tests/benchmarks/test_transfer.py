"""The transfer suite: rank agreement and its interval, snapping to the grid, a resumable proxy recording, suggest."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import transfer
from benchmarks.transfer import (
    AXES,
    Proxy,
    agreement,
    attainable_rho,
    bootstrap_interval,
    read_runs,
    record,
    snap,
    suggest_hits,
)


def test_the_interval_of_a_perfect_ranking_is_a_point_and_a_reversed_one_is_minus_one() -> None:
    values = np.arange(10.0)
    rng = np.random.default_rng(0)

    assert bootstrap_interval(values, values**2, 200, rng) == (1.0, 1.0)
    assert bootstrap_interval(values, -values, 200, rng) == (-1.0, -1.0)


def test_the_attainable_rho_follows_spearman_brown_from_the_split_half_rho() -> None:
    # Two target seeds: the split ρ is one seed's reliability R₁ = 0.5; the two-seed mean's is 2/3.
    assert attainable_rho(0.5, target_seeds=2, proxy_seeds=1) == pytest.approx((0.5 * 2 / 3) ** 0.5)
    assert attainable_rho(0.5, target_seeds=2, proxy_seeds=float("inf")) == pytest.approx((2 / 3) ** 0.5)


def test_a_proposal_snaps_to_the_nearest_cell_in_log_lambda_with_zero_at_the_axis_floor() -> None:
    cells = [(align, recon) for align in transfer.GRID for recon in transfer.GRID]

    # 0.05 lies below √(0.03 · 0.1) ≈ 0.055, so it is nearer λ = 0 (at 0.03) than 0.1; 2 is nearer 3 than 1.
    assert snap({AXES["align"]: 0.05, AXES["recon"]: 2.0}, cells) == (0.0, 3.0)
    assert snap({AXES["align"]: 0.06, AXES["recon"]: 1.6}, cells) == (0.1, 1.0)


def test_the_target_agrees_with_itself_and_suggest_on_it_snaps_into_the_grid() -> None:
    runs = read_runs(transfer.TARGET_RECORDINGS)
    target = transfer.cell_means(transfer.cell_values(runs))

    figures = agreement(runs, target, resamples=100, seed=0)
    suggested = suggest_hits(runs, target, seeds=1)

    assert figures["cells"] == 36 and figures["rho"] == pytest.approx(1.0)
    assert figures["proxy_best_target_rank"] == 1
    (search,) = suggested["searches"]
    assert len({tuple(cell) for cell in search["trials"]}) == transfer.SUGGEST_TRIALS
    assert tuple(search["cell"]) in target
    leaders = sorted(target, key=target.__getitem__)[: transfer.TOP]
    assert search["hit"] == (tuple(search["cell"]) in leaders) and suggested["hits"] == int(search["hit"])


def test_a_recording_appends_each_run_with_its_kind_and_a_restart_trains_nothing_again(tmp_path) -> None:
    log = tmp_path / "proxy.jsonl"
    proxies = {"tiny_10": Proxy("size tiny, 10 steps", {"size": "tiny"}, 10)}
    base = transfer.target_settings()

    record(proxies, base, (100,), (3.0,), (0.3,), log)
    record(proxies, base, (100,), (3.0,), (0.3,), log)

    (run,) = read_runs(log)
    assert (run["proxy"], run["align"], run["recon"], run["seed"]) == ("tiny_10", 3.0, 0.3, 100)
    # Everything but the size and the steps is the target's; evaluations fit within the proxy's steps.
    assert run["config"] == {**base, "options": {"size": "tiny"}, "steps": 10, "eval_every": 10}
    assert [step for step, _ in run["curve"]] == [10]
