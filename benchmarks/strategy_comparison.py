"""Strategy comparison: each weighting family's tuned configuration, confirmed on fresh paired seeds against tuned fixed.

Each family (fixed, importance, uncertainty, gradnorm, dwa, rlw, famo) searches its own space: its
entry in the shipped search spaces (``fixed.yaml``, then ``adaptive.yaml``, then ``full.yaml``: the
first file that names it) restricted to that one strategy, plus the space's ``lr`` parameter. Optuna
TPE (seeded) samples it through the product's ``SearchSpace.sample`` and ``SearchSpace.resolve``;
every trial is real training of the reference VLA by ``weightsearch.trial.train`` and is scored by
its final held-out action MSE (``val/action/mse``, colour–shape combinations never seen with an
action; lower is better). Every family gets the same number of trials of the same number of steps
(an equal step budget, not an equal time budget) and trial ``k`` trains with seed ``k`` in every
family (common random numbers).

The search's best value is optimistic (the best of many noisy draws), so each family's best
configuration is then trained again on fresh seeds, as ``weightsearch confirm`` does
(``trial.seed + SEED_OFFSET + i``: seeds no search trial used), the same seeds for every family.
Reported per family: the confirmed mean with its 95 % t interval, and the paired difference to the
tuned ``fixed`` configuration on those seeds (the strong baseline: Xin et al. 2022, Kurin et al. 2022)
with its interval and paired t / Wilcoxon p-values (``weightsearch.stats``). A family beats tuned
fixed beyond the seed spread when the whole difference interval lies below 0.

Runs go to a pool of worker processes with one torch thread each; all searches advance together, and
a family's confirmation runs are queued as soon as its search ends. Every finished run is appended to
``<out>/strategy_comparison.runs.jsonl`` (the full run only), keyed by its whole trial config: a rerun
after a crash replays the cached runs (TPE, seeded, asks the same configurations again) and trains
only what is missing.

    python -m benchmarks.strategy_comparison [--quick] [--out DIR]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna

from benchmarks import common
from weightsearch.config import SearchSpace, load_space
from weightsearch.search.confirm_plan import SEED_OFFSET
from weightsearch.stats import compare_paired, summarize_seeds
from weightsearch.trial import TrialConfig

NAME = "strategy_comparison"
FAMILIES = ("fixed", "importance", "uncertainty", "gradnorm", "dwa", "rlw", "famo")
BASELINE = "fixed"
# Each family's space comes from the first of these files that names it: the focused file before the catch-all.
SPACE_FILES = ("fixed.yaml", "adaptive.yaml", "full.yaml")
SPACES_DIR = common.REPO_ROOT / "search_spaces"
OBJECTIVE = "val/action/mse"
# A shared 2-core machine: 2 trials at a time by default, fewer or more with STRATEGY_COMPARISON_WORKERS.
WORKERS = int(os.environ.get("STRATEGY_COMPARISON_WORKERS", "2"))
# Error of predicting the mean action on the held-out targets (size small, reference-benchmark notes):
# a family whose best stays near it did not learn the held-out combinations at all.
MEAN_PREDICTOR = 0.230


@dataclass(frozen=True)
class Budget:
    """What every family gets: model size, steps per run, search trials, TPE start-up, confirmation seeds."""

    size: str
    steps: int
    trials: int
    startup_trials: int  # TPE samples at random until this many trials of the study have finished
    confirm_seeds: int


# Size small learns the held-out targets within 300 steps (single trials reach 20–140 ×10⁻³ against
# the mean predictor's 230), which tiny does not within 400 steps. 7 families × (12 search + 5
# confirmation) runs is 119 runs of ~12–15 s (GradNorm ~1.3×): ~15 minutes on 2 quiet cores.
FULL = Budget(size="small", steps=300, trials=12, startup_trials=4, confirm_seeds=5)
# A smoke run: one short tiny search trial per family, confirmed on 2 seeds (an interval needs 2).
QUICK = Budget(size="tiny", steps=5, trials=1, startup_trials=1, confirm_seeds=2)


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
    import weightsearch.trial
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
    """One family's TPE study and the runs queued for it."""

    family: str
    space: SearchSpace
    study: optuna.Study
    asked: int = 0


@dataclass
class RunCache:
    """Finished runs by their whole trial config, appended to a JSON-lines file as they finish (None: keep none)."""

    path: Path | None
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.path is None or not self.path.exists():
            return
        lines = [line for line in self.path.read_text().splitlines() if line.strip()]
        for number, line in enumerate(lines):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if number < len(lines) - 1:
                    raise
                # A run killed while appending: dropped from the log, trained again.
                self.path.write_text("".join(f"{kept}\n" for kept in lines[:-1]))
                break
            self.outcomes[self.key(entry["config"])] = entry["outcome"]

    @staticmethod
    def key(config: dict[str, Any]) -> str:
        return json.dumps(config, sort_keys=True)

    def get(self, config: dict[str, Any]) -> dict[str, Any] | None:
        return self.outcomes.get(self.key(config))

    def add(self, config: dict[str, Any], outcome: dict[str, Any]) -> None:
        self.outcomes[self.key(config)] = outcome
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as log:
                log.write(json.dumps({"config": config, "outcome": outcome}) + "\n")


def confirmation_seeds(budget: Budget) -> list[int]:
    """The fresh seeds every family's best configuration is confirmed on, as ``weightsearch confirm`` picks them."""
    first = base_config(budget).seed + SEED_OFFSET
    return list(range(first, first + budget.confirm_seeds))


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The study's lowest COMPLETE trial (the earliest on a tie), None when every trial failed."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return min(complete, key=lambda trial: (trial.value, trial.number)) if complete else None


def search_and_confirm(budget: Budget, cache: RunCache) -> list[dict[str, Any]]:
    """Every family's search, then its best configuration on the confirmation seeds, side by side in the pool.

    Each record has ``phase`` (``search`` or ``confirm``), the family, its seed, params, outcome and
    whether it was replayed from ``cache`` rather than trained.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = base_config(budget)
    seeds = confirmation_seeds(budget)
    searches = []
    for family in FAMILIES:
        sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=budget.startup_trials)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        searches.append(Search(family, family_space(family)[0], study))
    records: list[dict[str, Any]] = []
    total = len(FAMILIES) * (budget.trials + budget.confirm_seeds)
    # Spawned workers: the parent may hold threads (Ray, torch) that a forked child would inherit half-made.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=WORKERS, mp_context=context, initializer=prepare_worker) as pool:
        pending: dict[Future, dict[str, Any]] = {}

        def submit(search: Search, phase: str, seed: int, params: dict[str, Any], **extra: Any) -> None:
            config = search.space.resolve(base, params).model_copy(update={"seed": seed}).model_dump(mode="json")
            outcome = cache.get(config)
            if outcome is None:
                future = pool.submit(run_trial, config)
            else:  # a run a previous invocation finished: replayed, not trained again
                future = Future()
                future.set_result({**outcome, "cached": True})
            job = {"search": search, "phase": phase, "seed": seed, "params": params, "config": config, **extra}
            pending[future] = job

        def ask(search: Search) -> None:
            trial = search.study.ask()
            # Trial k trains with seed base + k in every family: paired comparisons, common random numbers.
            submit(search, "search", base.seed + search.asked, search.space.sample(trial), trial=trial)
            search.asked += 1

        def confirm(search: Search) -> None:
            best = best_trial(search.study)
            if best is None:
                print(f"[{NAME}] {search.family}: every search trial failed; nothing to confirm", flush=True)
                return
            for seed in seeds:
                submit(search, "confirm", seed, best.user_attrs["params"])

        for search in searches:
            ask(search)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                search, outcome = job["search"], dict(future.result())
                cached = outcome.pop("cached", False)
                if not cached:
                    cache.add(job["config"], outcome)
                record = {
                    "phase": job["phase"],
                    "family": search.family,
                    "seed": job["seed"],
                    "params": job["params"],
                    "cached": cached,
                    **outcome,
                }
                if job["phase"] == "search":
                    trial = job["trial"]
                    trial.set_user_attr("params", job["params"])
                    record["number"] = trial.number
                    if outcome["objective"] is None:
                        search.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    else:
                        search.study.tell(trial, outcome["objective"])
                records.append(record)
                objective = "failed" if record["objective"] is None else f"{1000 * record['objective']:.1f}e-3"
                took = "cached" if cached else f"{record['wall_s']:.1f} s"
                print(
                    f"[{NAME}] {len(records)}/{total} {search.family} {job['phase']} seed {job['seed']}: "
                    f"held-out mse {objective} ({took})",
                    flush=True,
                )
                if job["phase"] == "search":
                    if search.asked < budget.trials:
                        ask(search)
                    else:
                        confirm(search)
    return records


def verdict(comparison: dict[str, Any] | None) -> str:
    """Where the paired difference's interval lies: below 0 is better than tuned fixed, above 0 worse."""
    if comparison is None:
        return "not compared"
    if comparison["ci_high"] < 0:
        return "better"
    if comparison["ci_low"] > 0:
        return "worse"
    return "indistinguishable"


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per family: the search's best, the confirmed mean with its interval, the paired comparison with fixed."""
    confirmed: dict[str, dict[int, float | None]] = {family: {} for family in FAMILIES}
    for record in records:
        if record["phase"] == "confirm":
            confirmed[record["family"]][record["seed"]] = record["objective"]
    search_records = [record for record in records if record["phase"] == "search"]
    fixed_wall = statistics.fmean(record["wall_s"] for record in search_records if record["family"] == BASELINE)
    families = {}
    for family in FAMILIES:
        own = [record for record in search_records if record["family"] == family]
        finished = [record for record in own if record["objective"] is not None]
        best = min(finished, key=lambda record: (record["objective"], record["number"])) if finished else None
        values = {seed: value for seed, value in sorted(confirmed[family].items()) if value is not None}
        # Paired on the seeds where both this family and fixed finished.
        paired = [seed for seed in sorted(values) if confirmed[BASELINE].get(seed) is not None]
        comparison = None
        if family != BASELINE and len(paired) >= 2:
            comparison = compare_paired(
                [values[seed] for seed in paired], [confirmed[BASELINE][seed] for seed in paired]
            ).to_json()
        mean_wall = statistics.fmean(record["wall_s"] for record in own)
        families[family] = {
            "space_file": family_space(family)[1],
            "search_best": None if best is None else best["objective"],
            "search_best_trial": None if best is None else best["number"],
            "best_params": None if best is None else best["params"],
            "search_trials": common.spread(record["objective"] for record in finished),
            "confirmed_per_seed": {str(seed): value for seed, value in sorted(confirmed[family].items())},
            "confirmed": summarize_seeds(list(values.values())).to_json() if len(values) >= 2 else None,
            "difference_to_fixed": comparison,
            "verdict": "baseline" if family == BASELINE else verdict(comparison),
            "mean_wall_s": mean_wall,
            "wall_ratio_to_fixed": mean_wall / fixed_wall,
            "failed_search_trials": len(own) - len(finished),
            "failed_confirmation_runs": sum(value is None for value in confirmed[family].values()),
            "search_trials_run": len(own),
        }
    return families


def _with_interval(figures: dict[str, Any] | None, key: str, form: str) -> str:
    """``figures[key]`` with its interval, ×10³ (``–`` when there is none)."""
    if figures is None:
        return "–"
    return f"{form.format(1000 * figures[key])} [{1000 * figures['ci_low']:.1f}, {1000 * figures['ci_high']:.1f}]"


def markdown(families: dict[str, Any], budget: Budget) -> str:
    """The section body: the budget, one row per family, and which families beat tuned fixed."""
    rows = []
    for family, figures in families.items():
        paths = [leaf.path for leaf in family_space(family)[0].leaves(family)]
        own = [path.removeprefix("strategy_params.") for path in paths if path.startswith("strategy_params.")]
        shared = [path for path in paths if not path.startswith("strategy_params.")]
        confirmed = figures["confirmed"]
        comparison = figures["difference_to_fixed"]
        rows.append(
            [
                family,
                f"`{figures['space_file']}`: {', '.join(own) or 'nothing'}; trainer {', '.join(shared)}",
                "–" if figures["search_best"] is None else f"{1000 * figures['search_best']:.1f}",
                _with_interval(confirmed, "mean", "{:.1f}"),
                _with_interval(comparison, "mean_difference", "{:+.1f}"),
                "–" if comparison is None else f"{comparison['p_t']:.3f} / {comparison['p_wilcoxon']:.3f}",
                "–" if comparison is None else f"{comparison['wins']}/{comparison['seeds']}",
                figures["verdict"],
                f"{figures['mean_wall_s']:.1f} ({figures['wall_ratio_to_fixed']:.2f}×)",
                f"{figures['failed_search_trials']}/{figures['search_trials_run']}, {figures['failed_confirmation_runs']}",
            ]
        )
    table = common.markdown_table(
        [
            "family",
            "space (file: sampled)",
            "search best ×10⁻³",
            "confirmed mean [95 % CI] ×10⁻³",
            "− tuned fixed [95 % CI] ×10⁻³ (paired)",
            "p (t / Wilcoxon)",
            "seeds better",
            "vs tuned fixed",
            "wall s/trial (× fixed)",
            "failed (search, confirm)",
        ],
        rows,
    )
    intro = (
        f"Reference VLA size `{budget.size}`, {budget.steps} steps a run, batch 32, normalizer `none` (raw "
        f"loss scales) for every family. Each family: Optuna TPE ({budget.startup_trials} random start-up "
        f"trials) over its own space, {budget.trials} trials, trial k trains with seed k in every family; then "
        f"its best configuration trains again on {budget.confirm_seeds} fresh seeds "
        f"({', '.join(map(str, confirmation_seeds(budget)))}: `weightsearch confirm`'s), the same for every "
        f"family, and is compared seed by seed with tuned `{BASELINE}`'s. Objective: final held-out action MSE "
        f"(`{OBJECTIVE}`, unseen colour–shape targets; predicting the mean action gives about "
        f"{1000 * MEAN_PREDICTOR:.0f} ×10⁻³ at size small). Intervals: Student t, 95 %; p two-sided, uncorrected "
        f"for the {len(FAMILIES) - 1} comparisons (with {budget.confirm_seeds} seeds the exact Wilcoxon test "
        f"cannot go below {2 / 2**budget.confirm_seeds:.4f}). Better/worse: the difference's whole interval "
        f"lies below/above 0. Wall time per search trial includes building the data and the final evaluation, "
        f"{WORKERS} runs at a time on one torch thread each. Equal step budget, not equal time."
    )
    better = [family for family, figures in families.items() if figures["verdict"] == "better"]
    worse = [family for family, figures in families.items() if figures["verdict"] == "worse"]
    even = [family for family, figures in families.items() if figures["verdict"] == "indistinguishable"]
    outcome = (
        f"Better than tuned {BASELINE} beyond the seed spread: {', '.join(better) or 'none'}. "
        f"Worse: {', '.join(worse) or 'none'}. Indistinguishable: {', '.join(even) or 'none'}."
    )
    return f"{intro}\n\n{table}\n\n{outcome}\n"


def plot(families: dict[str, Any], path: Path) -> None:
    """Per family: the confirmation seeds' values with their mean and interval, and the paired difference to fixed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (value_axes, difference_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    positions = range(len(families))
    for position, figures in zip(positions, families.values()):
        values = [1000 * value for value in figures["confirmed_per_seed"].values() if value is not None]
        value_axes.scatter([position] * len(values), values, color="tab:blue", alpha=0.5, s=18)
        confirmed = figures["confirmed"]
        if confirmed is not None:
            mean = 1000 * confirmed["mean"]
            error = [[mean - 1000 * confirmed["ci_low"]], [1000 * confirmed["ci_high"] - mean]]
            value_axes.errorbar(position, mean, yerr=error, fmt="o", color="black", capsize=4)
        comparison = figures["difference_to_fixed"]
        if comparison is not None:
            mean = 1000 * comparison["mean_difference"]
            error = [[mean - 1000 * comparison["ci_low"]], [1000 * comparison["ci_high"] - mean]]
            difference_axes.errorbar(position, mean, yerr=error, fmt="o", color="black", capsize=4)
    value_axes.axhline(1000 * MEAN_PREDICTOR, color="tab:red", linestyle="--", linewidth=1, label="mean predictor")
    difference_axes.axhline(0, color="tab:gray", linewidth=1)
    for axes in (value_axes, difference_axes):
        axes.set_xticks(list(positions), list(families), rotation=30)
    value_axes.set_ylabel("held-out action MSE ×1e-3")
    value_axes.set_title("tuned configuration on fresh seeds: mean, 95 % CI")
    value_axes.legend(fontsize=8)
    difference_axes.set_ylabel("family − tuned fixed, ×1e-3 (paired)")
    difference_axes.set_title("paired difference to tuned fixed, 95 % CI (< 0 better)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def compare(budget: Budget, out_dir: Path, cache_path: Path | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Search, confirm and summarise at ``budget`` (resuming from ``cache_path``); per-family figures and records."""
    records = search_and_confirm(budget, RunCache(cache_path))
    families = summarise(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot(families, out_dir / f"{NAME}.png")
    return families, records


def run(*, quick: bool, out_dir: Path) -> common.SuiteReport:
    """Run every family's search and confirmation at the quick or full budget; the report, its plot in ``out_dir``."""
    budget = QUICK if quick else FULL
    machine = common.machine()
    started = time.perf_counter()
    print(
        f"[{NAME}] {len(FAMILIES)} families × ({budget.trials} search trials + {budget.confirm_seeds} confirmation "
        f"seeds) of {budget.steps} steps (size {budget.size}), {WORKERS} at a time",
        flush=True,
    )
    # The smoke run trains every time; the full run resumes from its log.
    cache_path = None if quick else out_dir / f"{NAME}.runs.jsonl"
    families, records = compare(budget, out_dir, cache_path)
    return common.SuiteReport(
        name=NAME,
        title="Strategy comparison: each family's tuned configuration on fresh paired seeds against tuned fixed",
        quick=quick,
        settings={
            **asdict(budget),
            "families": list(FAMILIES),
            "baseline": BASELINE,
            "space_files": {family: family_space(family)[1] for family in FAMILIES},
            "trial": base_config(budget).model_dump(),
            "workers": WORKERS,
            "torch_threads_per_trial": 1,
            "sampler": "optuna TPESampler(seed=0) per family",
            "training_seed": "search trial k: seed k (the same in every family)",
            "confirmation_seeds": confirmation_seeds(budget),
            "run_log": None if cache_path is None else str(cache_path.relative_to(common.REPO_ROOT)),
            "objective": OBJECTIVE,
        },
        results={"families": families, "runs": records},
        markdown=markdown(families, budget),
        plots=[str(out_dir / f"{NAME}.png")],
        machine=machine,
        wall_s=time.perf_counter() - started,
    )


def main(argv: list[str] | None = None) -> int:
    return common.suite_main(run, __doc__, "one short tiny trial per family, confirmed on 2 seeds", argv)


if __name__ == "__main__":
    raise SystemExit(main())
