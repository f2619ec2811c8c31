"""Proxy → target transfer: does a λ ranking found on a cheap proxy hold on the recorded target grid?

Target: the recorded 6×6 grid of the reference VLA (λ_align × λ_recon, λ_action = λ_action_token = 1;
size small, 800 steps; ``results/search_ground_truth.jsonl``). Proxies: the same 36 cells and the same
trial settings, trained by the product's trainer (``benchmarks.reference_grid.run_point``) with only
the size and the steps changed, on seeds distinct from the target's:

- ``tiny_300``: size tiny, 300 steps (smaller and shorter, the issue's proxy);
- ``small_200``: size small, 200 steps (steps only);
- ``tiny_800``: size tiny, 800 steps (size only).

Recording (one process, resumable: every finished run is appended to ``results/transfer_proxy.jsonl``
at once and skipped on a restart; seed by seed, cells in a fixed shuffled order, the kinds interleaved
cell by cell, so a cut-off recording holds the same random subset of cells of every kind)::

    python -m benchmarks.transfer --record 3             # up to 3 seeds a cell of every proxy kind
    python -m benchmarks.transfer --record 1 tiny_300    # the first seed of one kind

The suite (``python -m benchmarks --suite transfer``) trains nothing: it reads the recordings and
measures, per proxy kind, over the cells both hold:

- the Spearman ρ between proxy and target cell means (mean final held-out action MSE over seeds), with
  a 95 % percentile bootstrap interval that resamples **cells** (pairs of proxy and target means);
- the target rank of the proxy's best cell (1 = the target's best);
- ``suggest`` from at most 24 proxy trials: per search seed, 24 distinct random cells with one random
  recorded run each become COMPLETE trials of an in-memory Optuna study over the two λ axes;
  ``weightsearch.search.surrogate.propose`` fits them and its top proposal, snapped to the nearest
  cell in log-λ, is a hit when it is among the target's 3 best cells.

The surrogate's space is two log-λ axes on [0.03, 10] (the range of ``search_spaces/reference.yaml``):
the grid's λ = 0 sits at 0.03, half a decade below 0.1, so the six values keep the grid's half-decade
spacing in log-λ. The grid ties recon_token to recon_patch, so the space's recon_patch axis is λ_recon.

``--quick`` reads the recordings when they exist (fewer bootstrap resamples and search seeds); without
them it records a 2×3 mini grid of size tiny at 20 steps, one seed, into the output directory.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS_DIR, SuiteReport, Target, markdown_table, suite_main
from weightsearch.stats import spearman_rho

TARGET_RECORDINGS = RESULTS_DIR / "search_ground_truth.jsonl"
PROXY_RECORDINGS = RESULTS_DIR / "transfer_proxy.jsonl"
GRID = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
# The target's seeds are 0, 1, 2: a proxy run never shares its seed (data and initialisation) with them.
PROXY_SEEDS = (100, 101, 102)
METRIC = "val/action/mse"
MIN_CELLS = 3  # a kind with fewer recorded cells has no ranking to compare
TOP = 3  # a proposal is a hit when its cell is among the target's TOP best
SUGGEST_TRIALS = 24
LOG_ZERO = 0.03  # where λ = 0 sits on the surrogate's log-λ axes (see the module docstring)
LAMBDA_HIGH = 10.0
AXES = {"align": "strategy_params.weights.align", "recon": "strategy_params.weights.recon_patch"}


@dataclass(frozen=True)
class Setting:
    """How much the suite resamples."""

    resamples: int  # bootstrap resamples of the cells
    search_seeds: int  # suggest runs, each from its own 24 proxy trials


FULL = Setting(resamples=4000, search_seeds=8)
QUICK = Setting(resamples=400, search_seeds=2)
QUICK_ALIGN, QUICK_RECON = (0.0, 3.0), (0.0, 0.3, 10.0)


@dataclass(frozen=True)
class Proxy:
    """One kind of proxy: the reference model's options and the training steps that differ from the target."""

    label: str
    options: dict[str, Any]
    steps: int


PROXIES = {
    "tiny_300": Proxy("size tiny, 300 steps", {"size": "tiny"}, 300),
    "small_200": Proxy("size small, 200 steps (steps only)", {}, 200),
    "tiny_800": Proxy("size tiny, 800 steps (size only)", {"size": "tiny"}, 800),
}


def target_settings() -> dict[str, Any]:
    """The trial settings the target grid was recorded with (read from its first run)."""
    with TARGET_RECORDINGS.open() as lines:
        return json.loads(next(lines))["config"]


def proxy_settings(base: dict[str, Any], proxy: Proxy) -> dict[str, Any]:
    """``base`` with the proxy's options and steps; evaluations every ``base['eval_every']`` steps, at most ``steps``."""
    return {**base, "options": proxy.options, "steps": proxy.steps, "eval_every": min(base["eval_every"], proxy.steps)}


def read_runs(path: Path) -> list[dict[str, Any]]:
    """Every recorded run of a JSON-lines file (none when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def record(
    proxies: dict[str, Proxy],
    base: dict[str, Any],
    seeds: tuple[int, ...],
    aligns: tuple[float, ...],
    recons: tuple[float, ...],
    log: Path,
) -> None:
    """Train every missing (proxy, cell, seed) run in this process and append each to ``log`` as it finishes."""
    from benchmarks.reference_grid import run_point

    done = {(run["proxy"], run["align"], run["recon"], run["seed"]) for run in read_runs(log)}
    cells = [(align, recon) for align in aligns for recon in recons]
    random.Random(0).shuffle(cells)  # a cut-off recording then holds a random subset of the cells, not the first rows
    jobs = [
        (name, align, recon, seed)
        for seed in seeds
        for align, recon in cells
        for name in proxies
        if (name, align, recon, seed) not in done
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    for index, (name, align, recon, seed) in enumerate(jobs, start=1):
        run = {"proxy": name, **run_point(proxy_settings(base, proxies[name]), align, recon, seed)}
        with log.open("a") as lines:
            lines.write(json.dumps(run) + "\n")
        print(
            f"transfer: [{index}/{len(jobs)}] {name} align={align:g} recon={recon:g} seed={seed} "
            f"held-out mse={1000 * run['metrics']['val/action/mse']:.1f}e-3 ({run['wall_s']:.0f} s)",
            flush=True,
        )


Cell = tuple[float, float]


def cell_values(runs: list[dict[str, Any]]) -> dict[Cell, list[float]]:
    """Final held-out action MSE ×10⁻³ of every run, by cell (λ_align, λ_recon)."""
    cells: dict[Cell, list[float]] = {}
    for run in runs:
        cells.setdefault((run["align"], run["recon"]), []).append(1000 * run["metrics"][METRIC])
    return cells


def cell_means(cells: dict[Cell, list[float]]) -> dict[Cell, float]:
    return {cell: statistics.fmean(values) for cell, values in cells.items()}


def bootstrap_interval(
    proxy: np.ndarray, target: np.ndarray, resamples: int, rng: np.random.Generator, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of Spearman's ρ, resampling cells (index pairs) with replacement.

    Cells, not seeds (``weightsearch.stats.rank_agreement`` resamples seeds): a proxy recorded with one
    seed a cell has no seeds to resample. Resamples whose ranks are constant on a side are dropped.
    """
    from scipy.stats import rankdata

    picks = rng.integers(len(proxy), size=(resamples, len(proxy)))
    first = rankdata(proxy[picks], axis=1)
    second = rankdata(target[picks], axis=1)
    first -= first.mean(axis=1, keepdims=True)
    second -= second.mean(axis=1, keepdims=True)
    norms = np.sqrt((first**2).sum(axis=1) * (second**2).sum(axis=1))
    valid = norms > 0
    rhos = (first * second).sum(axis=1)[valid] / norms[valid]
    tail = 100 * (1 - confidence) / 2
    return float(np.percentile(rhos, tail)), float(np.percentile(rhos, 100 - tail))


def target_rank(cell: Cell, target: dict[Cell, float]) -> int:
    """Rank of ``cell`` among the target's cell means, 1 = the lowest error."""
    return 1 + sum(value < target[cell] for value in target.values())


def agreement(proxy_runs: list[dict[str, Any]], target: dict[Cell, float], resamples: int, seed: int) -> dict[str, Any]:
    """ρ with its interval, and where the proxy's best cell ranks on the target, over the cells both hold."""
    proxy_cells = cell_values(proxy_runs)
    means = cell_means(proxy_cells)
    cells = sorted(set(means) & set(target))
    proxy_values = np.array([means[cell] for cell in cells])
    target_values = np.array([target[cell] for cell in cells])
    best = min(cells, key=means.__getitem__)
    low, high = bootstrap_interval(proxy_values, target_values, resamples, np.random.default_rng(seed))
    return {
        "cells": len(cells),
        "seeds_per_cell": sorted({len(proxy_cells[cell]) for cell in cells}),
        "rho": spearman_rho(proxy_values, target_values),
        "rho_ci": [low, high],
        "proxy_best": list(best),
        "proxy_best_target_rank": target_rank(best, target),
        "proxy_top": [list(cell) for cell in sorted(cells, key=means.__getitem__)[:TOP]],
        "means": {f"{align:g},{recon:g}": means[(align, recon)] for align, recon in cells},
    }


def noise_ceiling(target_runs: list[dict[str, Any]], resamples: int) -> dict[str, dict[str, Any]]:
    """ρ of each target seed alone against the mean of the other target seeds: the agreement the target's own
    seed noise leaves to a one-seed proxy that ranked the cells exactly as the target does."""
    ceiling = {}
    for seed in sorted({run["seed"] for run in target_runs}):
        others = cell_means(cell_values([run for run in target_runs if run["seed"] != seed]))
        figures = agreement([run for run in target_runs if run["seed"] == seed], others, resamples, seed=seed)
        ceiling[str(seed)] = {"rho": figures["rho"], "rho_ci": figures["rho_ci"]}
    return ceiling


def attainable_rho(split_rho: float, target_seeds: int, proxy_seeds: float) -> float:
    """The ρ that the target itself at fresh seeds, averaged over ``proxy_seeds``, would reach against the target.

    Spearman–Brown: one seed's reliability R₁ solves ``split_rho² = R₁ · R_{n-1}`` (one target seed against the
    mean of the other n - 1), where ``R_k = k R₁ / (1 + (k - 1) R₁)``; then ρ = √(R_proxy · R_n). Taken on ranks.
    """
    others = target_seeds - 1
    square = split_rho**2
    one = (square * (others - 1) + math.sqrt(square**2 * (others - 1) ** 2 + 4 * others * square)) / (2 * others)

    def reliability(seeds: float) -> float:
        return 1.0 if math.isinf(seeds) else seeds * one / (1 + (seeds - 1) * one)

    return math.sqrt(reliability(proxy_seeds) * reliability(target_seeds))


def surrogate_space() -> Any:
    """The two λ axes of the grid as a search space (log-λ on [LOG_ZERO, LAMBDA_HIGH]; see the docstring)."""
    from weightsearch.config import SearchSpace

    axis = {"float": [LOG_ZERO, LAMBDA_HIGH], "log": True}
    return SearchSpace.model_validate({"parameters": {path: axis for path in AXES.values()}})


def on_axis(value: float) -> float:
    """A grid λ on the surrogate's log-λ axis (0 at :data:`LOG_ZERO`)."""
    return max(value, LOG_ZERO)


def snap(values: dict[str, float], cells: list[Cell]) -> Cell:
    """The cell nearest in log-λ to a proposal's ``{path: λ}``."""
    point = np.log([values[AXES["align"]], values[AXES["recon"]]])
    return min(cells, key=lambda cell: float(np.linalg.norm(np.log([on_axis(cell[0]), on_axis(cell[1])]) - point)))


def suggest_once(proxy_runs: list[dict[str, Any]], seed: int, trials: int = SUGGEST_TRIALS) -> dict[str, Any]:
    """Draw ``trials`` distinct cells with one recorded run each, fit ``propose`` on them, snap its top proposal."""
    import optuna

    from weightsearch.search.surrogate import propose

    rng = random.Random(seed)
    by_cell: dict[Cell, list[dict[str, Any]]] = {}
    for run in proxy_runs:
        by_cell.setdefault((run["align"], run["recon"]), []).append(run)
    cells = sorted(by_cell)
    drawn = rng.sample(cells, min(trials, len(cells)))
    distribution = optuna.distributions.FloatDistribution(LOG_ZERO, LAMBDA_HIGH, log=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one "study created" line per search seed is noise here
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=seed))
    for cell in drawn:
        run = rng.choice(by_cell[cell])
        params = {AXES["align"]: on_axis(cell[0]), AXES["recon"]: on_axis(cell[1])}
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=dict.fromkeys(params, distribution), value=run["metrics"][METRIC]
            )
        )
    top = propose(study.trials, surrogate_space(), "minimize", 1, seed=seed)[0]
    cell = snap(top.values, cells)
    return {
        "seed": seed,
        "trials": [list(cell) for cell in drawn],
        "proposal": {"align": top.values[AXES["align"]], "recon": top.values[AXES["recon"]]},
        "predicted_mse": 1000 * top.mean,
        "predicted_std": 1000 * top.std,
        "cell": list(cell),
    }


def suggest_hits(proxy_runs: list[dict[str, Any]], target: dict[Cell, float], seeds: int) -> dict[str, Any] | None:
    """``suggest_once`` for search seeds 0 … seeds-1; a hit is a snapped cell among the target's TOP best.

    None when the proxy holds fewer cells than the surrogate needs trials (a cut-off recording).
    """
    from weightsearch.search.surrogate import needed_trials

    cells = sorted(set(cell_values(proxy_runs)) & set(target))
    if len(cells) < needed_trials(surrogate_space(), None):
        return None
    leaders = sorted(cells, key=target.__getitem__)[:TOP]
    runs = [run for run in proxy_runs if (run["align"], run["recon"]) in set(cells)]
    searches = []
    for seed in range(seeds):
        search = suggest_once(runs, seed)
        search["target_rank"] = target_rank(tuple(search["cell"]), target)
        search["hit"] = tuple(search["cell"]) in leaders
        searches.append(search)
    return {"hits": sum(search["hit"] for search in searches), "seeds": seeds, "searches": searches}


def run(*, quick: bool, out_dir: Path) -> SuiteReport:
    """ρ, best-cell rank and suggest hits of every recorded proxy kind against the target grid."""
    started = time.perf_counter()
    setting = QUICK if quick else FULL
    base = target_settings()
    if PROXY_RECORDINGS.exists():
        recordings, proxies = PROXY_RECORDINGS, PROXIES
    elif quick:
        recordings = out_dir / "transfer_proxy_quick.jsonl"
        proxies = {"tiny_20": Proxy("size tiny, 20 steps (quick smoke)", {"size": "tiny"}, 20)}
        record(proxies, base, PROXY_SEEDS[:1], QUICK_ALIGN, QUICK_RECON, recordings)
    else:
        raise SystemExit(
            f"transfer: no proxy recordings at {PROXY_RECORDINGS}; record them: python -m benchmarks.transfer --record 3"
        )
    runs = read_runs(recordings)
    target_runs = read_runs(TARGET_RECORDINGS)
    target = cell_means(cell_values(target_runs))
    results: dict[str, Any] = {
        "target_best": list(min(target, key=target.__getitem__)),
        "kinds": {},
        "not_recorded": {},
    }
    for index, (name, proxy) in enumerate(proxies.items()):
        kind_runs = [item for item in runs if item.get("proxy") == name]
        if len(cell_values(kind_runs)) < MIN_CELLS:
            results["not_recorded"][name] = proxy.label
            continue
        results["kinds"][name] = {
            "label": proxy.label,
            "median_run_s": statistics.median(item["wall_s"] for item in kind_runs),
            **agreement(kind_runs, target, setting.resamples, seed=index),
            "suggest": suggest_hits(kind_runs, target, setting.search_seeds),
        }
    ceiling = noise_ceiling(target_runs, setting.resamples)
    split = statistics.fmean(figures["rho"] for figures in ceiling.values())
    target_seeds = len(ceiling)
    results["reference"] = {
        "one_seed_vs_others": ceiling,
        "attainable_rho": {str(k): attainable_rho(split, target_seeds, k) for k in (1, 3, math.inf)},
        "suggest_on_target": suggest_hits(target_runs, target, setting.search_seeds),
    }
    plot = out_dir / "transfer.png"
    out_dir.mkdir(parents=True, exist_ok=True)
    scatter_plot(results, target, plot)
    settings = {
        "target": {
            "recordings": str(TARGET_RECORDINGS),
            "trial": base,
            "seeds": sorted({item["seed"] for item in target_runs}),
        },
        "proxy_recordings": str(recordings),
        "proxies": {name: {"options": proxy.options, "steps": proxy.steps} for name, proxy in proxies.items()},
        "proxy_seeds": sorted({item["seed"] for item in runs}),
        "bootstrap": f"{setting.resamples} resamples of the cells, 95 % percentile interval",
        "suggest": f"{setting.search_seeds} search seeds × ≤ {SUGGEST_TRIALS} distinct random cells, one random recorded run each",
        "surrogate_space": f"log-λ axes on [{LOG_ZERO}, {LAMBDA_HIGH}], λ = 0 at {LOG_ZERO}",
    }
    return SuiteReport(
        name="transfer",
        title="Proxy → target transfer of the λ ranking",
        quick=quick,
        settings=settings,
        results=results,
        markdown=_markdown(results, target),
        targets=_targets(results),
        plots=[str(plot)],
        wall_s=time.perf_counter() - started,
    )


def _cell_text(cell: list[float]) -> str:
    return f"({cell[0]:g}, {cell[1]:g})"


def _hits(suggest: dict[str, Any] | None) -> str:
    return "too few cells" if suggest is None else f"{suggest['hits']}/{suggest['seeds']}"


def _snapped(suggest: dict[str, Any] | None) -> str:
    return "–" if suggest is None else ", ".join(_cell_text(search["cell"]) for search in suggest["searches"])


def _interval(figures: dict[str, Any]) -> str:
    return f"{figures['rho']:.2f} [{figures['rho_ci'][0]:.2f}, {figures['rho_ci'][1]:.2f}]"


def _markdown(results: dict[str, Any], target: dict[Cell, float]) -> str:
    best = tuple(results["target_best"])
    leaders = sorted(target, key=target.__getitem__)[:TOP]
    rows = [
        [
            f"{name}: {kind['label']}",
            f"{kind['cells']} × {'/'.join(map(str, kind['seeds_per_cell']))}",
            _interval(kind),
            f"{_cell_text(kind['proxy_best'])}: {kind['proxy_best_target_rank']}",
            _hits(kind["suggest"]),
            _snapped(kind["suggest"]),
            f"{kind['median_run_s']:.0f} s",
        ]
        for name, kind in results["kinds"].items()
    ]
    reference = results["reference"]
    ceiling = reference["one_seed_vs_others"]
    rows.append(
        [
            "reference: the target's own runs (one seed a cell against the other seeds' mean; suggest on its own runs)",
            f"{len(target)} × 1 (seeds {', '.join(ceiling)})",
            "; ".join(_interval(figures) for figures in ceiling.values()),
            "–",
            _hits(reference["suggest_on_target"]),
            _snapped(reference["suggest_on_target"]),
            "–",
        ]
    )
    return "\n\n".join(
        [
            f"Target: the recorded grid (size small, 800 steps), best cell (λ_align, λ_recon) = {_cell_text(list(best))} "
            f"at {target[best]:.1f} ×10⁻³ held-out action MSE; its top {TOP}: "
            + ", ".join(f"{_cell_text(list(cell))} {target[cell]:.1f}" for cell in leaders)
            + ". ρ: Spearman over cell means, 95 % bootstrap interval over cells. Suggest: per search seed, "
            f"{SUGGEST_TRIALS} distinct random cells with one random recorded run each, the surrogate's top proposal "
            "snapped to the nearest cell in log-λ. The reference row is the ceiling the target's own seed noise "
            "leaves: a one-seed proxy that ranked cells exactly as the target does. From it (Spearman–Brown), the ρ "
            "that such a perfect proxy reaches against the target's seed means: "
            + ", ".join(
                f"{'∞' if seeds == 'inf' else seeds} seed{'' if seeds == '1' else 's'} a cell {rho:.2f}"
                for seeds, rho in reference["attainable_rho"].items()
            )
            + ".",
            markdown_table(
                [
                    "proxy",
                    "cells × seeds",
                    "ρ [95 % CI]",
                    "proxy's best cell: target rank",
                    f"suggest's top proposal in the target's top {TOP}",
                    "snapped proposals",
                    "median run",
                ],
                rows,
            ),
            *(
                [
                    "Not recorded: "
                    + ", ".join(f"{name} ({label})" for name, label in results["not_recorded"].items())
                    + f"; record with `python -m benchmarks.transfer --record 1 {' '.join(results['not_recorded'])}`."
                ]
                if results["not_recorded"]
                else []
            ),
        ]
    )


def _targets(results: dict[str, Any]) -> list[Target]:
    kinds = results["kinds"]
    if not kinds:
        return []
    best_name = max(kinds, key=lambda name: kinds[name]["rho"])
    main = kinds.get("tiny_300", kinds[best_name])["suggest"]
    return [
        Target(
            name="proxy → target ρ",
            wanted="≥ 0.8 for the best proxy kind, with its CI",
            measured="; ".join(f"{name} {_interval(kind)}" for name, kind in kinds.items()),
            met=kinds[best_name]["rho"] >= 0.8,
        ),
        Target(
            name="suggest from ≤ 24 proxy trials",
            wanted=f"top proposal in the target's top {TOP} cells in ≥ 6 of 8 seeds (tiny_300)",
            measured="; ".join(f"{name} {_hits(kind['suggest'])}" for name, kind in kinds.items()),
            met=None if main is None else main["hits"] >= math.ceil(6 / 8 * main["seeds"]),
        ),
    ]


def scatter_plot(results: dict[str, Any], target: dict[Cell, float], path: Path) -> None:
    """One panel per proxy kind: proxy cell mean against target cell mean (log axes), the target's top cells marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    kinds = results["kinds"]
    leaders = set(sorted(target, key=target.__getitem__)[:TOP])
    figure, axes = plt.subplots(1, max(len(kinds), 1), figsize=(4.2 * max(len(kinds), 1), 4), squeeze=False)
    for axis, (name, kind) in zip(axes[0], kinds.items()):
        cells = [tuple(float(part) for part in key.split(",")) for key in kind["means"]]
        xs = [target[cell] for cell in cells]
        ys = list(kind["means"].values())
        colours = ["tab:red" if cell in leaders else "tab:blue" for cell in cells]
        axis.scatter(xs, ys, c=colours, s=18)
        axis.set_xscale("log")
        axis.set_yscale("log")
        for scale in (axis.xaxis, axis.yaxis):
            scale.set_major_formatter(ScalarFormatter())
            scale.set_minor_formatter(NullFormatter())
        axis.set_xlabel("target cell mean ×10⁻³ (small, 800 steps)")
        axis.set_ylabel(f"proxy cell mean ×10⁻³ ({name})")
        axis.set_title(f"{name}: ρ = {kind['rho']:.2f} (red: target top {TOP})", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["--record"]:
        kinds = {name: PROXIES[name] for name in arguments[2:] or PROXIES}
        record(kinds, target_settings(), PROXY_SEEDS[: int(arguments[1])], GRID, GRID, PROXY_RECORDINGS)
        return 0
    return suite_main(
        run, __doc__, "the recordings with fewer resamples and 2 search seeds, or a 2×3 mini grid", arguments
    )


if __name__ == "__main__":
    raise SystemExit(main())
