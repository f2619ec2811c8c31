"""What the Optuna bridge costs per result: bare Ray Tune vs our searcher + pruning scheduler, side by side.

The same trivial trainable (a sleep-free loop of ``--reports`` reports) runs under

- ``bare``: Ray Tune's BasicVariantGenerator (random search), FIFO scheduling, no callbacks;
- ``ours/none``: :func:`weightsearch.search.tuner.build_tuner` (searcher, pruning scheduler,
  progress display) on a SQLite study with Optuna's NopPruner;
- ``ours/median``: the same with the MedianPruner.

Each sweep is repeated ``--repeats`` times in rotating order; the table shows medians. Two figures:
``hook ms/result`` is the driver time spent inside our searcher, scheduler and progress callback
per result (what the bridge adds to Ray's loop, measured around the calls); ``wall ms/result`` is
the sweep's wall time per result. The quickstart projection scales both the hook time and the wall
time difference to bare Ray (an upper bound) to the quickstart's 60 results and divides by its
tuning-loop wall time (``--quickstart-wall-s``, measured separately).

    python benchmarks/orchestration_overhead.py --repeats 3
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import ray
from ray import tune

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from weightsearch.search.bridge import OptunaBridge  # noqa: E402
from weightsearch.search.progress import SweepProgress  # noqa: E402
from weightsearch.search.pruning import OptunaPruningScheduler  # noqa: E402
from weightsearch.search.searcher import OptunaSearcher  # noqa: E402
from weightsearch.search.tuner import build_tuner, study_storage  # noqa: E402
from weightsearch.spec import SweepSpec, make_pruner, make_sampler  # noqa: E402

METRIC = "val/action/mse"
RESULTS_FILE = REPO_ROOT / "benchmarks" / "results" / "orchestration_overhead.json"
# The quickstart spec: 10 trials, a report every 50 of 300 steps (fewer when trials are pruned).
QUICKSTART_RESULTS = 60
TARGET_MS_PER_RESULT = 50.0
TARGET_QUICKSTART_SHARE = 0.03


def trivial_trainable(config: dict, reports: int) -> None:
    """``reports`` results at once, the objective a function of the sampled ``lr`` (so pruning has signal)."""
    lr = config["params"]["lr"]
    for step in range(1, reports + 1):
        tune.report({METRIC: (lr - 0.004) ** 2 * 1e4 + 1.0 / step, "step": step})


class HookTimer:
    """Accumulates the wall time spent inside wrapped methods (the bridge's hooks on Ray's driver loop)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, owner: type, name: str) -> Callable[[], None]:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, original)


HOOKS = [
    (OptunaSearcher, "suggest"),
    (OptunaSearcher, "on_trial_complete"),
    (OptunaPruningScheduler, "on_trial_result"),
    (OptunaPruningScheduler, "on_trial_error"),
    (SweepProgress, "on_step_end"),
    (SweepProgress, "on_trial_error"),
    (SweepProgress, "on_experiment_end"),
]


def run_bare(workdir: Path, trials: int, reports: int, concurrency: int) -> tuple[float, int, float]:
    tuner = tune.Tuner(
        tune.with_parameters(trivial_trainable, reports=reports),
        param_space={"params": {"lr": tune.loguniform(1e-3, 1e-2)}},
        tune_config=tune.TuneConfig(num_samples=trials, max_concurrent_trials=concurrency, reuse_actors=True),
        run_config=tune.RunConfig(name="bare", storage_path=str(workdir / "ray"), verbose=0),
    )
    started = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - started
    return wall, sum(len(result.metrics_dataframe) for result in results), 0.0


def run_ours(workdir: Path, trials: int, reports: int, concurrency: int, pruner: str) -> tuple[float, int, float]:
    spec = SweepSpec.model_validate(
        {
            "name": "ours",
            "space": {"parameters": {"lr": {"float": [1e-3, 1e-2], "log": True}}},
            "sampler": {"name": "tpe", "seed": 0},
            "pruner": {"name": pruner, "options": {"n_startup_trials": 2} if pruner == "median" else {}},
            "budget": {"num_samples": trials, "max_concurrent": concurrency},
            "storage": {"path": str(workdir)},
        }
    )
    spec.paths.dir.mkdir(parents=True)
    study = optuna.create_study(
        storage=study_storage(spec.optuna_url), study_name=spec.name, directions=spec.directions,
        sampler=make_sampler(spec), pruner=make_pruner(spec),
    )
    bridge = OptunaBridge(study, spec.metrics)
    tuner = build_tuner(spec, bridge, tune.with_parameters(trivial_trainable, reports=reports))
    timer = HookTimer()
    restores = [timer.wrap(owner, name) for owner, name in HOOKS]
    try:
        started = time.perf_counter()
        tuner.fit()
        wall = time.perf_counter() - started
    finally:
        for restore in restores:
            restore()
    results = sum(len(trial.intermediate_values) for trial in study.get_trials(deepcopy=False))
    return wall, results, timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--reports", type=int, default=100, help="results per trial")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quickstart-wall-s", type=float, default=None, help="measured wall time of the quickstart sweep")
    args = parser.parse_args()

    # The same console settings as a weightsearch sweep, for every variant.
    for name, value in {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_PRINT_ALL_TRIAL_ERRORS": "0"}.items():
        os.environ.setdefault(name, value)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1",
             configure_logging=False, log_to_driver=False)
    variants = {
        "bare": lambda workdir: run_bare(workdir, args.trials, args.reports, args.concurrency),
        "ours/none": lambda workdir: run_ours(workdir, args.trials, args.reports, args.concurrency, "none"),
        "ours/median": lambda workdir: run_ours(workdir, args.trials, args.reports, args.concurrency, "median"),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    names = list(variants)
    try:
        for repeat in range(args.repeats):
            for name in names[repeat % len(names):] + names[: repeat % len(names)]:
                workdir = Path(tempfile.mkdtemp(prefix="ws-bench-"))
                try:
                    wall, results, hooks = variants[name](workdir)
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                runs[name].append({"wall_s": wall, "results": results, "hook_s": hooks})
                print(f"repeat {repeat + 1} {name:12s} wall {wall:7.2f} s  results {results:5d}  hooks {hooks * 1e3:8.1f} ms", flush=True)
    finally:
        ray.shutdown()

    summary = {}
    for name, measured in runs.items():
        summary[name] = {
            "wall_s": statistics.median(run["wall_s"] for run in measured),
            "results": statistics.median(run["results"] for run in measured),
            "wall_ms_per_result": statistics.median(1e3 * run["wall_s"] / run["results"] for run in measured),
            "hook_ms_per_result": statistics.median(1e3 * run["hook_s"] / run["results"] for run in measured),
        }
    bare = summary["bare"]
    for name in ("ours/none", "ours/median"):
        summary[name]["wall_ratio_vs_bare"] = summary[name]["wall_s"] / bare["wall_s"]
        summary[name]["wall_ms_per_result_minus_bare"] = summary[name]["wall_ms_per_result"] - bare["wall_ms_per_result"]
    worst_hook_ms = max(summary[name]["hook_ms_per_result"] for name in ("ours/none", "ours/median"))
    # The wall-time difference per result also counts what the hooks cannot see (larger trial
    # configs in every result, the experiment snapshots), so it bounds the overhead from above.
    worst_extra_ms = max(summary[name]["wall_ms_per_result_minus_bare"] for name in ("ours/none", "ours/median"))
    projection = upper_projection = None
    if args.quickstart_wall_s:
        projection = worst_hook_ms * QUICKSTART_RESULTS / 1e3 / args.quickstart_wall_s
        upper_projection = worst_extra_ms * QUICKSTART_RESULTS / 1e3 / args.quickstart_wall_s

    report = {
        "settings": {**vars(args), "cpus": os.cpu_count(), "ray": ray.__version__, "optuna": optuna.__version__},
        "runs": runs,
        "medians": summary,
        "targets": {"ms_per_result": TARGET_MS_PER_RESULT, "quickstart_share": TARGET_QUICKSTART_SHARE},
        "quickstart_projection": {
            "results": QUICKSTART_RESULTS,
            "wall_s": args.quickstart_wall_s,
            "hook_share_of_wall": projection,
            "wall_difference_share_of_wall": upper_projection,
        },
    }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(report, indent=2) + "\n")

    print(f"\nmedians over {args.repeats} repeats ({args.trials} trials x {args.reports} reports, {args.concurrency} at once)")
    print(f"{'variant':12s} {'wall s':>8s} {'results':>8s} {'wall ms/res':>12s} {'hook ms/res':>12s} {'wall ratio':>11s}")
    for name, row in summary.items():
        ratio = f"{row.get('wall_ratio_vs_bare', 1.0):11.3f}"
        print(f"{name:12s} {row['wall_s']:8.2f} {row['results']:8.0f} {row['wall_ms_per_result']:12.2f} {row['hook_ms_per_result']:12.2f} {ratio}")
    print(f"target <= {TARGET_MS_PER_RESULT:g} ms/result: worst hook {worst_hook_ms:.2f} ms, worst wall difference {worst_extra_ms:.2f} ms")
    if projection is not None:
        print(f"quickstart ({QUICKSTART_RESULTS} results in {args.quickstart_wall_s:.0f} s): hooks {100 * projection:.3f} %, "
              f"wall difference {100 * upper_projection:.3f} % of wall (target <= {100 * TARGET_QUICKSTART_SHARE:g} %)")
    print(f"wrote {RESULTS_FILE}")


if __name__ == "__main__":
    main()
