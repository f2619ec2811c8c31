"""Strategy comparison: the best held-out action error each weighting family finds at an equal step budget.

Each family (fixed, importance, uncertainty, gradnorm, dwa, rlw, famo) searches its own space: its
entry in the shipped search spaces (``fixed.yaml``, then ``adaptive.yaml``, then ``full.yaml``: the
first file that names it) restricted to that one strategy, plus the space's ``lr`` parameter. Optuna
TPE (seeded per repetition) samples it through the product's ``SearchSpace.sample`` and
``SearchSpace.resolve``; every trial is real training of the reference VLA by
``weightsearch.trial.train`` and is scored by its final held-out action MSE (``val/action/mse``,
colour–shape combinations never seen with an action; lower is better). Every family gets the same
number of trials of the same number of steps (an equal step budget, not an equal time budget: the
adaptive strategies cost more time a step) and runs with the same search seeds; trial ``k`` of a
repetition trains with the same data/initialisation seed in every family, so families are compared
paired, with common random numbers.

Trials run in a pool of 2 processes with one torch thread each. All studies advance together: each
repetition's families are queued in a rotated order and a study's next trial is queued when its
previous one finishes, so machine drift hits every family alike.

Reported per family: the best objective over its trials, median (min–max) over repetitions; the
paired difference to fixed in the same repetition; the mean wall time per trial (data build and
final evaluation included); failed (non-finite loss) trials. Every trial is kept in the JSON.

    python -m benchmarks.strategy_comparison [--quick] [--out DIR]
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna

from benchmarks import common
from weightsearch.config import SearchSpace, load_space
from weightsearch.trial import TrialConfig

NAME = "strategy_comparison"
FAMILIES = ("fixed", "importance", "uncertainty", "gradnorm", "dwa", "rlw", "famo")
# Each family's space comes from the first of these files that names it: the focused file before the catch-all.
SPACE_FILES = ("fixed.yaml", "adaptive.yaml", "full.yaml")
SPACES_DIR = common.REPO_ROOT / "search_spaces"
OBJECTIVE = "val/action/mse"
WORKERS = 2
# Error of predicting the mean action on the held-out targets (size small, reference-benchmark notes):
# a family whose best stays near it did not learn the held-out combinations at all.
MEAN_PREDICTOR = 0.230


@dataclass(frozen=True)
class Budget:
    """What every family gets: model size, steps per trial, trials per search, search repetitions."""

    size: str
    steps: int
    trials: int
    repetitions: int
    startup_trials: int  # TPE samples at random until this many trials of the study have finished


# Size small learns the held-out targets within 300 steps (single trials reach 20–140 ×10⁻³ against
# the mean predictor's 230), which tiny does not within 400 steps. 7 families × 3 repetitions × 4
# trials is 84 trials of ~15 s (GradNorm ~2.2×): an estimated 12–14 minutes on 2 quiet cores.
FULL = Budget(size="small", steps=300, trials=4, repetitions=3, startup_trials=2)
# A smoke run: one short tiny trial per family, to exercise the code path and write the files.
QUICK = Budget(size="tiny", steps=20, trials=1, repetitions=1, startup_trials=1)


def family_space(family: str) -> tuple[SearchSpace, str]:
    """The family's own space (its strategy entry plus ``lr``) and the shipped file it was taken from."""
    for file_name in SPACE_FILES:
        mapping = load_space(SPACES_DIR / file_name).to_mapping()
        strategies = mapping.get("strategy") or {}
        if family in strategies:
            parameters = {"lr": mapping["parameters"]["lr"]} if "lr" in mapping.get("parameters", {}) else {}
            return load_space({"strategy": {family: strategies[family]}, "parameters": parameters}), file_name
    raise LookupError(f"no shipped search space ({', '.join(SPACE_FILES)}) names strategy {family!r}")


def base_config(budget: Budget) -> TrialConfig:
    """The trial every sample is merged into: the reference VLA, evaluated once at the end."""
    # Diagnostics off: they cost gradient passes at the evaluation step and do not change the objective.
    return TrialConfig(
        model="reference",
        options={"size": budget.size},
        device="cpu",
        steps=budget.steps,
        eval_every=budget.steps,
        diagnostics=False,
    )


def prepare_worker() -> None:
    """One torch thread per worker, and the trainer and reference model imported before any trial is timed."""
    import torch

    # Imported now, so that the first trial's wall time holds no imports.
    import weightsearch.trial  # noqa: F401
    import weightsearch.vla  # noqa: F401

    torch.set_num_threads(1)
    # The first optimizer a process builds imports torch._dynamo: seconds that belong to no strategy.
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])


def run_trial(config: dict[str, Any]) -> dict[str, Any]:
    """Train one resolved trial config in this worker; its objective and timings."""
    from weightsearch.errors import NonFiniteLossError
    from weightsearch.trial import train

    started = time.perf_counter()
    try:
        metrics = train(TrialConfig.model_validate(config))
    except NonFiniteLossError as error:
        return {"objective": None, "error": str(error), "wall_s": time.perf_counter() - started}
    return {
        "objective": metrics[OBJECTIVE],
        "objective_seen": metrics.get("val/action/mse_seen"),
        "train_s": metrics["time/train_s"],
        "wall_s": time.perf_counter() - started,
    }


@dataclass
class Search:
    """One family's TPE study in one repetition."""

    family: str
    repetition: int
    space: SearchSpace
    study: optuna.Study
    asked: int = 0


def search_all(budget: Budget) -> list[dict[str, Any]]:
    """Run every family's search in every repetition side by side in the process pool; every trial's record."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = base_config(budget)
    searches = []
    for repetition in range(budget.repetitions):
        # Rotate the families' order between repetitions so no family always runs first or last.
        order = FAMILIES[repetition % len(FAMILIES):] + FAMILIES[: repetition % len(FAMILIES)]
        for family in order:
            sampler = optuna.samplers.TPESampler(seed=repetition, n_startup_trials=budget.startup_trials)
            study = optuna.create_study(direction="minimize", sampler=sampler)
            searches.append(Search(family, repetition, family_space(family)[0], study))
    records: list[dict[str, Any]] = []
    total = len(searches) * budget.trials
    # Spawned workers: the parent may hold threads (Ray, torch) that a forked child would inherit half-made.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=context, initializer=prepare_worker) as pool:
        pending: dict[Future, tuple[Search, optuna.Trial, dict[str, Any], int]] = {}

        def submit(search: Search) -> None:
            trial = search.study.ask()
            params = search.space.sample(trial)
            # Trial k trains with the same seed in every family: paired comparisons, common random numbers.
            seed = 1000 * search.repetition + search.asked
            config = search.space.resolve(base, params).model_copy(update={"seed": seed})
            pending[pool.submit(run_trial, config.model_dump())] = (search, trial, params, seed)
            search.asked += 1

        for search in searches:
            submit(search)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                search, trial, params, seed = pending.pop(future)
                outcome = future.result()
                if outcome["objective"] is None:
                    search.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    search.study.tell(trial, outcome["objective"])
                record = {
                    "family": search.family,
                    "repetition": search.repetition,
                    "number": trial.number,
                    "seed": seed,
                    "params": params,
                    **outcome,
                }
                records.append(record)
                objective = "failed" if record["objective"] is None else f"{1000 * record['objective']:.1f}e-3"
                print(
                    f"[{NAME}] {len(records)}/{total} {search.family} rep {search.repetition} "
                    f"trial {trial.number}: held-out mse {objective} ({record['wall_s']:.1f} s)",
                    flush=True,
                )
                if search.asked < budget.trials:
                    submit(search)
    return records


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per family: best per repetition, its spread, the paired difference to fixed, wall time per trial."""
    best: dict[str, dict[int, dict[str, Any]]] = {family: {} for family in FAMILIES}
    for record in records:
        if record["objective"] is None:
            continue
        incumbent = best[record["family"]].get(record["repetition"])
        if incumbent is None or record["objective"] < incumbent["objective"]:
            best[record["family"]][record["repetition"]] = record
    fixed_wall = statistics.fmean(record["wall_s"] for record in records if record["family"] == "fixed")
    families = {}
    for family in FAMILIES:
        own = [record for record in records if record["family"] == family]
        bests = {repetition: record["objective"] for repetition, record in sorted(best[family].items())}
        paired = [
            bests[repetition] - best["fixed"][repetition]["objective"]
            for repetition in bests
            if repetition in best["fixed"]
        ]
        mean_wall = statistics.fmean(record["wall_s"] for record in own)
        families[family] = {
            "space_file": family_space(family)[1],
            "best_per_repetition": bests,
            "best_params_per_repetition": {
                repetition: record["params"] for repetition, record in sorted(best[family].items())
            },
            "best": common.spread(bests.values()),
            "all_trials": common.spread(record["objective"] for record in own if record["objective"] is not None),
            "difference_to_fixed": common.spread(paired),
            "repetitions_better_than_fixed": sum(difference < 0 for difference in paired),
            "mean_wall_s": mean_wall,
            "wall_s": common.spread(record["wall_s"] for record in own),
            "wall_ratio_to_fixed": mean_wall / fixed_wall,
            "failed_trials": sum(record["objective"] is None for record in own),
            "trials": len(own),
        }
    return families


def markdown(families: dict[str, Any], budget: Budget) -> str:
    """The section body: the budget and one row per family."""
    rows = []
    for family, figures in families.items():
        paths = [leaf.path for leaf in family_space(family)[0].leaves(family)]
        own = [path.removeprefix("strategy_params.") for path in paths if path.startswith("strategy_params.")]
        shared = [path for path in paths if not path.startswith("strategy_params.")]
        sampled = f"{', '.join(own) or 'nothing'}; trainer {', '.join(shared)}"
        paired = figures["difference_to_fixed"]
        versus = "–" if family == "fixed" else common.format_spread(paired, 1, 1000)
        wins = "–" if family == "fixed" else f"{figures['repetitions_better_than_fixed']}/{paired['n']}"
        rows.append(
            [
                family,
                f"`{figures['space_file']}`: {sampled}",
                common.format_spread(figures["best"], 1, 1000),
                common.format_spread(figures["all_trials"], 1, 1000),
                versus,
                wins,
                f"{figures['mean_wall_s']:.1f} ({figures['wall_ratio_to_fixed']:.2f}×)",
                f"{figures['failed_trials']}/{figures['trials']}",
            ]
        )
    table = common.markdown_table(
        [
            "family",
            "space (file: sampled)",
            "best held-out MSE ×10⁻³",
            "all trials ×10⁻³",
            "best − fixed ×10⁻³ (paired)",
            "reps better than fixed",
            "wall s/trial (× fixed)",
            "failed",
        ],
        rows,
    )
    intro = (
        f"Reference VLA size `{budget.size}`, {budget.steps} steps a trial, batch 32, normalizer `none` (raw "
        f"loss scales) for every family. Each family: Optuna TPE ({budget.startup_trials} random start-up "
        f"trial(s)) over its own space, {budget.trials} trial(s) a search, {budget.repetitions} search seed(s); "
        f"trial k of a repetition trains with the same seed in every family. Objective: final held-out action "
        f"MSE (`{OBJECTIVE}`, unseen colour–shape targets; predicting the mean action gives about "
        f"{1000 * MEAN_PREDICTOR:.0f} ×10⁻³ at size small). Figures: median (min–max) over repetitions of the "
        f"best trial; wall time per trial includes building the data and the final evaluation, {WORKERS} trials at a "
        f"time on one torch thread each. Equal step budget, not equal time. The issue sets no numeric target "
        f"for this suite."
    )
    return "\n\n".join([intro, table]) + "\n"


def plot(families: dict[str, Any], path: Path) -> None:
    """Per family: each repetition's best objective, the median with its min–max bar, and the wall time a trial."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (objective_axes, wall_axes) = plt.subplots(
        1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]}
    )
    positions = range(len(families))
    for position, (family, figures) in zip(positions, families.items()):
        values = [1000 * value for value in figures["best_per_repetition"].values()]
        objective_axes.scatter([position] * len(values), values, color="tab:blue", alpha=0.5, s=18)
        best = figures["best"]
        if best["n"]:
            objective_axes.errorbar(
                position,
                1000 * best["median"],
                yerr=[[1000 * (best["median"] - best["min"])], [1000 * (best["max"] - best["median"])]],
                fmt="o",
                color="black",
                capsize=4,
            )
        wall_axes.bar(position, figures["mean_wall_s"], color="tab:gray")
    objective_axes.axhline(
        1000 * MEAN_PREDICTOR, color="tab:red", linestyle="--", linewidth=1, label="mean predictor (small)"
    )
    objective_axes.set_xticks(list(positions), list(families), rotation=30)
    objective_axes.set_ylabel("best held-out action MSE ×1e-3")
    objective_axes.set_title("best per search seed (dots), median with min–max (black)")
    objective_axes.legend(fontsize=8)
    wall_axes.set_xticks(list(positions), list(families), rotation=30)
    wall_axes.set_ylabel("mean wall time per trial (s)")
    wall_axes.set_title("cost at equal steps")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run(*, quick: bool, out_dir: Path) -> common.SuiteReport:
    """Run every family's searches at the quick or full budget; the suite's report with its plot in ``out_dir``."""
    budget = QUICK if quick else FULL
    machine = common.machine()
    started = time.perf_counter()
    print(
        f"[{NAME}] {len(FAMILIES)} families × {budget.repetitions} search seed(s) × {budget.trials} trial(s) of "
        f"{budget.steps} steps (size {budget.size}), {WORKERS} at a time",
        flush=True,
    )
    records = search_all(budget)
    families = summarise(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_path = out_dir / f"{NAME}.png"
    plot(families, plot_path)
    return common.SuiteReport(
        name=NAME,
        title="Strategy comparison: best held-out action error per weighting family at an equal step budget",
        quick=quick,
        settings={
            **asdict(budget),
            "families": list(FAMILIES),
            "space_files": {family: family_space(family)[1] for family in FAMILIES},
            "trial": base_config(budget).model_dump(),
            "workers": WORKERS,
            "torch_threads_per_trial": 1,
            "sampler": "optuna TPESampler(seed=repetition)",
            "training_seed": "1000 × repetition + trial number (the same in every family)",
            "objective": OBJECTIVE,
        },
        results={"families": families, "trials": records},
        markdown=markdown(families, budget),
        plots=[str(plot_path)],
        machine=machine,
        wall_s=time.perf_counter() - started,
    )


def main(argv: list[str] | None = None) -> int:
    return common.suite_main(run, __doc__, "one short tiny trial per family", argv)


if __name__ == "__main__":
    raise SystemExit(main())
