"""Loss-weight landscape of the reference VLA: held-out action error over a (λ_align, λ_recon) grid.

Every grid point is a fixed-weight trial run by the product's trainer (`weightsearch.trial.train`)
with λ_action = λ_action_token = 1, λ_align on one axis and λ_recon (both reconstruction tasks) on
the other, for several seeds. Points run in parallel processes with one torch thread each.

    python benchmarks/reference_grid.py --workers 16            # full grid, 5 seeds
    python benchmarks/reference_grid.py --quick --workers 2     # 3×3 grid, 2 seeds, fewer steps

Writes ``<out>.jsonl`` (one line per finished trial, as it finishes), ``<out>.json`` (settings,
every trial's final metrics, the summary), ``<out>.md`` (tables) and ``<out>.png`` (heatmap of
the median held-out action MSE).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

GRID = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
QUICK_GRID = (0.0, 1.0, 10.0)
DEFAULT_OUT = Path(__file__).parent / "results" / "reference_grid"
OBJECTIVE = "val/action/mse"
# The reference trial's training budget (about 30 s on one CPU core for size small).
STEPS, BATCH_SIZE, LR = 800, 32, 3e-3
# Run as a script from a checkout: make the repository's package importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel trial processes")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per grid point")
    parser.add_argument("--align", type=_values, default=GRID, help="comma-separated λ_align values")
    parser.add_argument("--recon", type=_values, default=GRID, help="comma-separated λ_recon values")
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps")
    parser.add_argument(
        "--eval-every", type=int, default=None, help="steps between evaluations (default: only at the end); each is kept as the trial's curve"
    )
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="items per batch (actions + captions)")
    parser.add_argument("--lr", type=float, default=LR, help="peak learning rate")
    parser.add_argument("--options", type=json.loads, default={}, help="factory options as JSON, e.g. '{\"size\": \"small\"}'")
    parser.add_argument("--quick", action="store_true", help="3×3 grid, 2 seeds, 400 steps: a smoke run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output path without extension")
    parser.add_argument(
        "--summarise", action="store_true", help="train nothing: rebuild the report from <out>.jsonl (a cut-off run's)"
    )
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.align, arguments.recon, arguments.seeds, arguments.steps = QUICK_GRID, QUICK_GRID, 2, 400
    return arguments


def _values(text: str) -> tuple[float, ...]:
    return tuple(float(value) for value in text.split(","))


def trial_settings(arguments: argparse.Namespace) -> dict[str, Any]:
    """The TrialConfig fields shared by every grid point (the others keep TrialConfig's defaults)."""
    return {
        "model": "reference",
        "options": arguments.options,
        "strategy": "fixed",
        "device": "cpu",
        "steps": arguments.steps,
        "eval_every": arguments.eval_every or arguments.steps,
        "batch_size": arguments.batch_size,
        "lr": arguments.lr,
    }


def run_point(settings: dict[str, Any], align: float, recon: float, seed: int) -> dict[str, Any]:
    """One fixed-weight trial in this process, on one torch thread; returns its final metrics."""
    import torch

    from weightsearch.trial import TrialConfig, train

    torch.set_num_threads(1)
    weights = {"action": 1.0, "action_token": 1.0, "align": align, "recon_patch": recon, "recon_token": recon}
    config = TrialConfig(**settings, strategy_params={"weights": weights}, seed=seed)
    curve: list[list[float]] = []
    started = time.perf_counter()
    metrics = train(config, report=lambda values, checkpoint: curve.append([values["step"], values[OBJECTIVE]]))
    return {
        "align": align,
        "recon": recon,
        "seed": seed,
        "config": settings,
        "machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}",
        "wall_s": time.perf_counter() - started,
        "metrics": {name: value for name, value in metrics.items() if name.startswith(("val/", "time/"))},
        "curve": curve,
    }


def summarise(trials: list[dict[str, Any]], metric: str = OBJECTIVE) -> dict[str, dict[str, float]]:
    """Per grid point ``"align,recon"``: mean, std, median, min, max of ``metric`` over seeds (×1000)."""
    points: dict[str, list[float]] = {}
    for trial in trials:
        points.setdefault(_key(trial["align"], trial["recon"]), []).append(1000 * trial["metrics"][metric])
    return {
        key: {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "n": len(values),
        }
        for key, values in points.items()
    }


def _machines(trials: list[dict[str, Any]]) -> str:
    """Where the trials ran, e.g. ``"160 trials on 16 CPUs, torch 2.11.0"`` (one torch thread each)."""
    counts: dict[str, int] = {}
    for trial in trials:
        machine = trial.get("machine", "an unrecorded machine")
        counts[machine] = counts.get(machine, 0) + 1
    return "; ".join(f"{count} trials on {machine}" for machine, count in counts.items())


def _seed_range(summary: dict[str, dict[str, float]]) -> str:
    counts = sorted({stats["n"] for stats in summary.values()})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


def _key(align: float, recon: float) -> str:
    return f"{align:g},{recon:g}"


def comparisons(summary: dict[str, dict[str, float]], trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The best point against "auxiliaries off" (0, 0) and "equal weights" (1, 1): gaps, spreads, Welch t."""
    best = min(summary, key=lambda key: summary[key]["mean"])
    values = {}
    for trial in trials:
        values.setdefault(_key(trial["align"], trial["recon"]), []).append(1000 * trial["metrics"][OBJECTIVE])
    result: dict[str, Any] = {"best": best, "best_mean": summary[best]["mean"]}
    for name, key in (("auxiliaries_off", _key(0, 0)), ("equal_weights", _key(1, 1))):
        if key not in summary or key == best:
            result[name] = None
            continue
        gap = summary[key]["mean"] - summary[best]["mean"]
        result[name] = {
            "point": key,
            "mean": summary[key]["mean"],
            "gap": gap,
            "larger_std": max(summary[key]["std"], summary[best]["std"]),
            "gap_exceeds_spread": gap > max(summary[key]["std"], summary[best]["std"]),
            "welch_t": _welch_t(values[key], values[best]),
        }
    return result


def _welch_t(first: list[float], second: list[float]) -> float:
    if len(first) < 2 or len(second) < 2:
        return math.nan
    error = math.sqrt(statistics.variance(first) / len(first) + statistics.variance(second) / len(second))
    return (statistics.fmean(first) - statistics.fmean(second)) / error if error > 0 else math.inf


def markdown(report: dict[str, Any]) -> str:
    """Tables: held-out MSE mean ± std (median), seen MSE mean, and the comparison lines."""
    aligns, recons = report["align_values"], report["recon_values"]
    header = "| λ_align \\ λ_recon | " + " | ".join(f"{value:g}" for value in recons) + " |"
    rule = "|---" * (len(recons) + 1) + "|"
    best = report["comparisons"]["best"]

    def table(summary: dict[str, dict[str, float]], with_median: bool) -> list[str]:
        most_seeds = max(stats["n"] for stats in summary.values())
        rows = [header, rule]
        for align in aligns:
            cells = []
            for recon in recons:
                stats = summary.get(_key(align, recon))
                if stats is None:
                    cells.append("–")
                    continue
                cell = f"{stats['mean']:.1f} ± {stats['std']:.1f}"
                if with_median:
                    cell += f" ({stats['median']:.1f})"
                if stats["n"] < most_seeds:
                    cell += f" n={stats['n']}"
                cells.append(f"**{cell}**" if with_median and _key(align, recon) == best else cell)
            rows.append(f"| {align:g} | " + " | ".join(cells) + " |")
        return rows

    settings = report["settings"]
    lines = [
        "# Reference VLA: loss-weight landscape",
        "",
        f"Fixed weights, λ_action = λ_action_token = 1; {report['seeds']} seeds a point; trial settings "
        f"`{json.dumps(settings['trial'])}` (other TrialConfig fields at their defaults); "
        f"{report['median_trial_s']:.1f} s median per trial on one torch thread ({settings['machines']}).",
        "",
        "## Held-out action MSE ×10⁻³ (unseen colour–shape targets): mean ± std (median) over seeds",
        "",
        *table(report["summary"], with_median=True),
        "",
        "## In-distribution action MSE ×10⁻³: mean ± std",
        "",
        *table(report["summary_seen"], with_median=False),
        "",
        "## Best point against the baselines",
        "",
    ]
    comparison = report["comparisons"]
    lines.append(f"Best (lowest mean): λ_align, λ_recon = {comparison['best']} at {comparison['best_mean']:.1f}.")
    for name in ("auxiliaries_off", "equal_weights"):
        entry = comparison[name]
        if entry is None:
            lines.append(f"- {name.replace('_', ' ')}: is the best point or was not run.")
            continue
        lines.append(
            f"- {name.replace('_', ' ')} ({entry['point']}): {entry['mean']:.1f}; gap {entry['gap']:.1f} vs the "
            f"larger std {entry['larger_std']:.1f} → {'exceeds' if entry['gap_exceeds_spread'] else 'within'} "
            f"the seed spread (Welch t = {entry['welch_t']:.1f})"
        )
    return "\n".join(lines) + "\n"


def heatmap(report: dict[str, Any], path: Path) -> None:
    """PNG heatmap of the median held-out action MSE (log colour scale), cells annotated mean ± std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib import patheffects
    from matplotlib.colors import LogNorm

    aligns, recons = report["align_values"], report["recon_values"]
    summary = report["summary"]
    medians = np.full((len(aligns), len(recons)), np.nan)
    for row, align in enumerate(aligns):
        for col, recon in enumerate(recons):
            if _key(align, recon) in summary:
                medians[row, col] = summary[_key(align, recon)]["median"]
    figure, axes = plt.subplots(figsize=(1.4 * len(recons) + 2, 1.0 * len(aligns) + 1.5))
    image = axes.imshow(medians, cmap="viridis_r", norm=LogNorm(vmin=np.nanmin(medians), vmax=np.nanmax(medians)))
    for row, align in enumerate(aligns):
        for col, recon in enumerate(recons):
            stats = summary.get(_key(align, recon))
            if stats is not None:
                text = f"{stats['median']:.0f}\n{stats['mean']:.0f}±{stats['std']:.0f}"
                axes.text(
                    col, row, text, ha="center", va="center", fontsize=7, color="white",
                    path_effects=[patheffects.withStroke(linewidth=1.5, foreground="black")],
                )
    axes.set_xticks(range(len(recons)), [f"{value:g}" for value in recons])
    axes.set_yticks(range(len(aligns)), [f"{value:g}" for value in aligns])
    axes.set_xlabel("λ_recon (recon_patch and recon_token)")
    axes.set_ylabel("λ_align")
    axes.set_title(f"held-out action MSE ×1e-3, median (mean±std) of {report['seeds']} seeds")
    figure.colorbar(image, ax=axes, label="median held-out action MSE ×1e-3")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def run_grid(arguments: argparse.Namespace, settings: dict[str, Any], log: Path) -> list[dict[str, Any]]:
    """Run every (point, seed) in parallel; each finished trial is appended to ``log`` (JSON lines) at once.

    Jobs go seed by seed, so a run stopped early still holds whole seeds of the grid.
    """
    jobs = [
        (align, recon, seed) for seed in range(arguments.seeds) for align in arguments.align for recon in arguments.recon
    ]
    trials = []
    with ProcessPoolExecutor(max_workers=arguments.workers) as pool, log.open("w") as lines:
        futures = [pool.submit(run_point, settings, align, recon, seed) for align, recon, seed in jobs]
        for done, future in enumerate(as_completed(futures), start=1):
            trial = future.result()
            trials.append(trial)
            lines.write(json.dumps(trial) + "\n")
            lines.flush()
            print(
                f"[{done}/{len(jobs)}] align={trial['align']:g} recon={trial['recon']:g} seed={trial['seed']} "
                f"held-out mse={1000 * trial['metrics'][OBJECTIVE]:.1f}e-3 ({trial['wall_s']:.0f} s)",
                flush=True,
            )
    return trials


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = trial_settings(arguments)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    log = arguments.out.with_suffix(".jsonl")
    started = time.perf_counter()
    if arguments.summarise:
        trials = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        settings = trials[0]["config"]
    else:
        trials = run_grid(arguments, settings, log)
    summary = summarise(trials)
    report = {
        "settings": {
            "trial": settings,
            "weights": "action=1, action_token=1, align=λ_align, recon_patch=recon_token=λ_recon",
            "machines": _machines(trials),
        },
        "align_values": sorted({trial["align"] for trial in trials}),
        "recon_values": sorted({trial["recon"] for trial in trials}),
        "seeds": _seed_range(summary),
        "wall_s": time.perf_counter() - started,
        "median_trial_s": statistics.median(trial["wall_s"] for trial in trials),
        "summary": summary,
        "summary_seen": summarise(trials, "val/action/mse_seen"),
        "comparisons": comparisons(summary, trials),
        "trials": trials,
    }
    arguments.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    text = markdown(report)
    arguments.out.with_suffix(".md").write_text(text)
    heatmap(report, arguments.out.with_suffix(".png"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
