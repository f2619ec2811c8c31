"""The sweep's summary figures, drawn from plain numbers with matplotlib (Agg), saved as PNGs readable without MLflow."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a cluster driver; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

Curve = tuple[Sequence[float], Sequence[float]]  # (steps, values)


def save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    close(figure)
    return path


def close(figure: Figure) -> None:
    """Free a figure's memory once it is saved or logged (pyplot keeps every figure it made)."""
    plt.close(figure)


def _grid(rows: int, columns: int, width: float, height: float, *, left: float = 0.9, sharex: bool = False):
    """Figure and axes grid with fixed margins in inches (matplotlib's automatic layouts draw everything twice)."""
    figure, grid = plt.subplots(rows, columns, figsize=(width, height), squeeze=False, sharex=sharex)
    figure.subplots_adjust(left=left / width, right=1 - 0.25 / width, bottom=0.6 / height, top=1 - 0.55 / height,
                           hspace=0.45, wspace=0.45)
    return figure, grid


def message_figure(title: str, message: str) -> Figure:
    """A figure that says why there is no plot, so the artifact set is the same for every sweep."""
    figure, axes = plt.subplots(figsize=(6, 2.5))
    axes.axis("off")
    axes.set_title(title)
    axes.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return figure


def optimization_history(numbers: Sequence[int], values: Sequence[float], metric: str, direction: str) -> Figure:
    """Objective of each COMPLETE trial by trial number, with the best value so far."""
    figure, [[axes]] = _grid(1, 1, 7, 4)
    better = min if direction == "minimize" else max
    best_so_far = list(itertools.accumulate(values, better))
    axes.scatter(numbers, values, s=18, label="trial")
    axes.step(numbers, best_so_far, where="post", color="tab:red", label="best so far")
    axes.set(xlabel="trial number", ylabel=metric, title=f"Optimization history ({direction})")
    axes.legend(loc="upper right")
    return figure


def param_importances(importances: Mapping[str, float], metric: str) -> Figure:
    """Horizontal bars of each tuned value's importance for ``metric`` (fANOVA over the readable values)."""
    ordered = sorted(importances.items(), key=lambda item: item[1])
    # room on the left for the longest name (about 0.075 inch a character at the default font size)
    left = 0.2 + 0.075 * max(len(name) for name, _ in ordered)
    figure, [[axes]] = _grid(1, 1, left + 4, 0.4 * len(ordered) + 1.5, left=left)
    axes.barh([name for name, _ in ordered], [value for _, value in ordered])
    axes.set(xlabel="importance", title=f"Parameter importances for {metric}")
    return figure


def intermediate_values(curves: Mapping[int, Curve], pruned: set[int], metric: str) -> Figure:
    """The objective at each reported step of every trial; pruned trials dashed."""
    figure, [[axes]] = _grid(1, 1, 7, 4)
    for number, (steps, values) in sorted(curves.items()):
        label = f"trial {number}" + (" (pruned)" if number in pruned else "")
        axes.plot(steps, values, linestyle="--" if number in pruned else "-", alpha=0.8, linewidth=1, label=label)
    axes.set(xlabel="step", ylabel=metric, title="Intermediate values (dashed: pruned)")
    # One entry a trial while they can be told apart; beyond that, what the line styles mean.
    if len(curves) <= 12:
        axes.legend(fontsize="x-small", ncol=2, loc="upper right")
    else:
        axes.legend(handles=[Line2D([], [], color="grey", label="ran to its end"),
                             Line2D([], [], color="grey", linestyle="--", label="pruned")], loc="upper right")
    return figure


def pareto_fronts(final_losses: Mapping[str, Sequence[float]]) -> Figure:
    """Each pair of tasks' final validation losses against each other, the non-dominated trials highlighted.

    ``final_losses`` maps a task to one value per trial (the same trial order for every task).
    """
    pairs = list(itertools.combinations(sorted(final_losses), 2))
    columns = min(3, len(pairs))
    rows = -(-len(pairs) // columns)
    figure, grid = _grid(rows, columns, max(6, 4 * columns), 3.6 * rows)
    for axes, (task_x, task_y) in zip(grid.flat, pairs):
        points = list(zip(final_losses[task_x], final_losses[task_y]))
        front = [p for p in points if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points)]
        axes.scatter(*zip(*points), s=14, color="tab:gray", label="trial")
        front.sort()
        axes.plot(*zip(*front), marker="o", color="tab:red", label="non-dominated")
        axes.set(xlabel=f"val/loss/{task_x}", ylabel=f"val/loss/{task_y}")
    for axes in list(grid.flat)[len(pairs):]:
        axes.axis("off")
    grid.flat[0].legend(fontsize="small")
    figure.suptitle("Final validation losses per task pair (lower is better)")
    return figure


def weight_trajectories(trajectories: Mapping[int, Mapping[str, Curve]]) -> Figure:
    """``train/weight/<task>`` over steps, one panel per task, one line per trial (the top-k trials)."""
    tasks = sorted({task for curves in trajectories.values() for task in curves})
    figure, grid = _grid(len(tasks), 1, 7, 2.4 * len(tasks), sharex=True)
    for axes, task in zip(grid.flat, tasks):
        for number, curves in trajectories.items():
            if task in curves:
                axes.plot(*curves[task], label=f"trial {number}")
        axes.set(ylabel=f"weight {task}")
    grid.flat[-1].set_xlabel("step")
    grid.flat[0].legend(fontsize="small", ncol=2, loc="upper left")
    figure.suptitle("Effective task weights of the best trials")
    return figure


def confirmation(report: Mapping) -> Figure:
    """Each confirmed configuration's per-seed values, its mean and 95 % interval; baselines in grey."""
    entries = report["configurations"]
    figure, [[axes]] = _grid(1, 1, max(5.0, 1.2 * len(entries) + 2), 4.5)
    for position, entry in enumerate(entries):
        summary = entry["summary"]
        colour = "tab:grey" if entry["kind"] == "baseline" else "tab:blue"
        spread = [position + 0.15 * ((index % 5) - 2) / 2 for index in range(len(summary["values"]))]
        axes.scatter(spread, summary["values"], s=14, color=colour, alpha=0.6)
        error = [[summary["mean"] - summary["ci_low"]], [summary["ci_high"] - summary["mean"]]]
        axes.errorbar([position + 0.3], [summary["mean"]], yerr=error, fmt="o", color="black", capsize=4)
    axes.set_xticks(range(len(entries)), [entry["label"] for entry in entries], rotation=20)
    axes.set(ylabel=report["metric"], title=f"Confirmation on {len(report['seeds'])} paired seeds (mean, 95 % CI)")
    return figure
