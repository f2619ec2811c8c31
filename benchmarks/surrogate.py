"""The surrogate behind `weightsearch suggest`: which regression to fit (measured), and how long a suggestion takes.

**Fit choice.** On the recorded 6×6 landscape (``results/search_ground_truth.jsonl``: the reference VLA,
size small, 800 steps, λ_action = λ_action_token = 1, λ_align × λ_recon on the grid, 3 seeds a cell),
each run's features are its point on the 5-task simplex, its target the held-out action MSE. Two
protocols, both scored by the Spearman ρ between predicted and recorded cell means over the 36 cells
(:func:`weightsearch.stats.spearman_rho`):

- *leave one cell out*: fit on the other 35 cells' runs, predict the held-out cell;
- *24 runs* (the regime `suggest` is for): fit on 24 runs drawn at random, predict every cell; per draw
  ρ, and whether the cell predicted best is among the recorded top 3 (8 draws, the same for every model).

Compared: the product's Gaussian process (:func:`weightsearch.search.surrogate.fit_model`) on the
product's simplex features (log fractions, :func:`~weightsearch.search.surrogate.simplex_features`) and
on plain fractions, and LightGBM as RegMix fits it (``LGBMRegressor``, 200 trees of ≤ 7 leaves, learning
rate 0.05, ≥ 2 runs a leaf: its default 20 would leave 24 runs unsplit; trees do not care which monotone
encoding). LightGBM is not a dependency: it is compared where it is importable (``pip install lightgbm``)
and recorded as ``null`` otherwise. CPU seconds of the 36 leave-one-out fits, one BLAS thread.

**Latency.** A SQLite study of 1,000 COMPLETE trials of the fixed strategy (5-task simplex, log-range lr,
a normalization choice; parameters drawn by the space's own sampler, objective a noisy bowl) is opened
and proposed from as the command does (``load_study``, ``get_trials``, :func:`propose` with its default
draws); median (min–max) of the rounds' wall time, and of their CPU time (what a busy machine does not
inflate), in process (imports paid before).

    python -m benchmarks.surrogate [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import SuiteReport, Target

GROUND_TRUTH = common.RESULTS_DIR / "search_ground_truth.jsonl"
OBJECTIVE = "val/action/mse"
FULL = {"draws_24": 8, "study_trials": 1_000, "rounds": 5}
QUICK = {"draws_24": 2, "study_trials": 200, "rounds": 1}
SUBSET = 24
TOP = 3
TARGET_S = 5.0
SEED = 0
SPACE = {
    "strategy": {"fixed": {"weights": {"simplex": ["action", "action_token", "align", "recon_patch", "recon_token"]}}},
    "parameters": {"lr": {"float": [1e-3, 1e-2], "log": True}, "normalization": {"choice": ["none", "ema"]}},
}


def run(*, quick: bool, out_dir: Path) -> SuiteReport:
    started = time.perf_counter()
    settings = {**(QUICK if quick else FULL), "subset": SUBSET, "top": TOP, "seed": SEED, "objective": OBJECTIVE}
    from weightsearch.search.surrogate import simplex_features

    fractions, targets, cells = _ground_truth()
    fitters = {"gaussian_process": (simplex_features, _gp), "gaussian_process_plain_fractions": (None, _gp)}
    lightgbm = _lightgbm_fitter()
    if lightgbm is not None:
        fitters["lightgbm"] = (None, lightgbm)
    choice: dict[str, Any] = {
        name: _score(fit, encode(fractions) if encode else fractions, targets, cells, settings["draws_24"])
        for name, (encode, fit) in fitters.items()
    }
    if lightgbm is None:
        choice["lightgbm"] = None
    latency = _latency(settings["study_trials"], settings["rounds"])
    results = {"fit_choice": choice, "latency": latency}
    median = latency["median_s"]
    targets_met = [
        Target(
            f"suggest at {settings['study_trials']:,} trials",
            f"≤ {TARGET_S:g} s",
            f"{median:.2f} s wall, {latency['median_cpu_s']:.2f} s CPU (medians of {settings['rounds']})",
            None if quick else median <= TARGET_S,
        )
    ]
    return SuiteReport(
        name="surrogate",
        title="Surrogate: GP vs LightGBM on the recorded landscape, and suggest latency",
        quick=quick,
        settings=settings,
        results=results,
        markdown=_markdown(choice, latency),
        targets=targets_met,
        wall_s=time.perf_counter() - started,
    )


def _ground_truth() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per recorded run: its weights as fractions of their sum, the objective, and its cell index."""
    rows = [json.loads(line) for line in GROUND_TRUTH.read_text().splitlines() if line.strip()]
    keys = sorted({(row["align"], row["recon"]) for row in rows})
    weights = np.array([[1.0, 1.0, row["align"], row["recon"], row["recon"]] for row in rows])
    fractions = weights / weights.sum(axis=1, keepdims=True)
    targets = np.array([row["metrics"][OBJECTIVE] for row in rows])
    cells = np.array([keys.index((row["align"], row["recon"])) for row in rows])
    return fractions, targets, cells


def _gp(features: np.ndarray, targets: np.ndarray, seed: int) -> Any:
    from weightsearch.search.surrogate import fit_model

    return fit_model(features, targets, np.random.default_rng(seed))


def _lightgbm_fitter() -> Any:
    try:
        import lightgbm
    except ImportError:
        return None

    def fit(features: np.ndarray, targets: np.ndarray, seed: int) -> Any:
        model = lightgbm.LGBMRegressor(
            n_estimators=200, learning_rate=0.05, num_leaves=7, min_child_samples=2, random_state=seed, verbose=-1
        )
        return model.fit(features, targets)

    return fit


def _score(fit: Any, features: np.ndarray, targets: np.ndarray, cells: np.ndarray, draws: int) -> dict[str, Any]:
    """Leave-one-cell-out ρ, and per 24-run draw ρ and whether the predicted best cell is a top-3 cell."""
    from weightsearch.stats import spearman_rho

    count = int(cells.max()) + 1
    cell_features = np.array([features[cells == cell][0] for cell in range(count)])
    cell_means = np.array([targets[cells == cell].mean() for cell in range(count)])
    top = set(np.argsort(cell_means)[:TOP].tolist())
    began = time.process_time()
    held_out = np.array(
        [
            fit(features[cells != cell], targets[cells != cell], SEED).predict(cell_features[cell : cell + 1])[0]
            for cell in range(count)
        ]
    )
    loo_cpu_s = time.process_time() - began
    rng = np.random.default_rng(SEED)
    rhos, hits = [], []
    for draw in range(draws):
        chosen = rng.choice(len(targets), SUBSET, replace=False)
        predicted = fit(features[chosen], targets[chosen], SEED + draw).predict(cell_features)
        rhos.append(spearman_rho(predicted, cell_means))
        hits.append(int(np.argmin(predicted)) in top)
    return {
        "leave_one_cell_out_rho": spearman_rho(held_out, cell_means),
        "leave_one_cell_out_cpu_s": loo_cpu_s,
        "subset_rho": rhos,
        "subset_rho_median": statistics.median(rhos),
        "subset_top3_hits": sum(hits),
        "subset_draws": draws,
    }


def _latency(count: int, rounds: int) -> dict[str, Any]:
    """Seconds to open a ``count``-trial study and propose from it, per round."""
    import optuna

    from weightsearch.config import load_space
    from weightsearch.search.surrogate import propose

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space(SPACE)
    rng = np.random.default_rng(SEED)
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="surrogate-") as scratch:
        url = f"sqlite:///{scratch}/optuna.db"
        study = optuna.create_study(storage=url, study_name="latency", sampler=optuna.samplers.RandomSampler(SEED))
        for _ in range(count):
            trial = study.ask()
            values = space.sample(trial)
            lr = np.log10(values["lr"]) + 2.5
            align = values["strategy_params.weights.align"] / 5
            study.tell(trial, float((align - 0.3) ** 2 + 0.1 * lr**2 + rng.normal(0, 0.01)))
        for round_ in range(rounds):
            began, began_cpu = time.perf_counter(), time.process_time()
            loaded = optuna.load_study(study_name="latency", storage=url)
            propose(loaded.get_trials(deepcopy=False), space, "minimize", 5, seed=round_, strategy="fixed")
            seconds.append(time.perf_counter() - began)
            cpu_seconds.append(time.process_time() - began_cpu)
    return {
        "trials": count,
        "seconds": seconds,
        "median_s": statistics.median(seconds),
        "cpu_seconds": cpu_seconds,
        "median_cpu_s": statistics.median(cpu_seconds),
    }


def _markdown(choice: dict[str, Any], latency: dict[str, Any]) -> str:
    lines = [
        "| model | leave-one-cell-out ρ | 24-run ρ, median of draws | predicted best in top 3 | LOO fits, CPU s |",
        "|---|---|---|---|---|",
    ]
    for name, scores in choice.items():
        if scores is None:
            lines.append(f"| {name} | not installed | | | |")
            continue
        lines.append(
            f"| {name} | {scores['leave_one_cell_out_rho']:.2f} | {scores['subset_rho_median']:.2f} | "
            f"{scores['subset_top3_hits']}/{scores['subset_draws']} | {scores['leave_one_cell_out_cpu_s']:.1f} |"
        )
    seconds = latency["seconds"]
    lines.append("")
    lines.append(
        f"suggest on a {latency['trials']:,}-trial study: {latency['median_s']:.2f} s median "
        f"({min(seconds):.2f}–{max(seconds):.2f}) over {len(seconds)} rounds; CPU {latency['median_cpu_s']:.2f} s median"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    arguments = parser.parse_args(argv)
    report = run(quick=arguments.quick, out_dir=arguments.out)
    print(report.markdown)
    print(f"wrote {common.write_report(report, arguments.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
