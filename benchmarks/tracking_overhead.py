"""What MLflow tracking costs a sweep: the quickstart with and without the MLflow callback, side by side.

Each repetition runs the quickstart sweep (``search_spaces/quickstart.yaml``, with ``--set``
overrides if given) twice through :func:`weightsearch.search.tuner.run_sweep` on one shared local
Ray: ``off`` without callbacks, ``on`` with :class:`~weightsearch.tracking.recorder.MlflowSweepCallback`
recording into the default SQLite store of the run directory (or ``--tracking-uri``). The order
alternates between repetitions so that drift on a shared machine hits both. Reported: median wall
time of each, the overhead in percent of ``off`` (target ≤ 3 %), and the driver time spent inside
the callback's hooks (``hook_s``; ``end_s`` is its share at the sweep's end: the last flush and the
five plots), which is the cost itself without the noise of a sweep's wall time.

    python benchmarks/tracking_overhead.py --repetitions 3
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

import ray

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from weightsearch.config import load_spec  # noqa: E402
from weightsearch.search.tuner import run_sweep  # noqa: E402
from weightsearch.tracking.recorder import MlflowSweepCallback  # noqa: E402

QUICKSTART = REPO_ROOT / "search_spaces" / "quickstart.yaml"
RESULTS_FILE = REPO_ROOT / "benchmarks" / "results" / "tracking_overhead.json"
TARGET_PCT = 3.0
_HOOKS = ("setup", "on_trial_start", "on_trial_result", "on_trial_complete", "on_trial_error", "on_experiment_end")


class TimedCallback(MlflowSweepCallback):
    """The MLflow callback with the driver time spent in each of its hooks added up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seconds = dict.fromkeys(_HOOKS, 0.0)

    def _timed(self, hook: str, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        getattr(super(), hook)(*args, **kwargs)
        self.seconds[hook] += time.perf_counter() - started

    def setup(self, *args: Any, **kwargs: Any) -> None:
        self._timed("setup", *args, **kwargs)

    def on_trial_start(self, *args: Any, **kwargs: Any) -> None:
        self._timed("on_trial_start", *args, **kwargs)

    def on_trial_result(self, *args: Any, **kwargs: Any) -> None:
        self._timed("on_trial_result", *args, **kwargs)

    def on_trial_complete(self, *args: Any, **kwargs: Any) -> None:
        self._timed("on_trial_complete", *args, **kwargs)

    def on_trial_error(self, *args: Any, **kwargs: Any) -> None:
        self._timed("on_trial_error", *args, **kwargs)

    def on_experiment_end(self, *args: Any, **kwargs: Any) -> None:
        self._timed("on_experiment_end", *args, **kwargs)


def one_sweep(overrides: list[str], root: Path, name: str, tracking: bool, tracking_uri: str | None) -> dict[str, Any]:
    spec = load_spec(QUICKSTART, [*overrides, f"name={name}", f"storage.path={root}",
                                  *([f"tracking.uri={json.dumps(tracking_uri)}"] if tracking_uri else [])])
    callbacks = [TimedCallback(spec)] if tracking else []
    started = time.perf_counter()
    result = run_sweep(spec, callbacks=callbacks)
    wall = time.perf_counter() - started
    run = {"wall_s": wall, "trials": dict(result.summary.counts)}
    if tracking:
        hooks = callbacks[0].seconds
        run |= {"hook_s": sum(hooks.values()), "end_s": hooks["on_experiment_end"], "hooks_s": hooks}
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a quickstart value, e.g. --set budget.num_samples=4")
    parser.add_argument("--tracking-uri", help="MLflow server to record into (default: SQLite in the run directory)")
    parser.add_argument("--out", type=Path, default=RESULTS_FILE)
    args = parser.parse_args()

    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}})
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="tracking-overhead-") as scratch:
        for repetition in range(args.repetitions):
            order = ("off", "on") if repetition % 2 == 0 else ("on", "off")
            for mode in order:
                run = one_sweep(args.overrides, Path(scratch), f"bench-{mode}-{repetition}", mode == "on",
                                args.tracking_uri)
                runs[mode].append(run)
                print(f"repetition {repetition} {mode:3s} {run['wall_s']:7.1f} s  trials {run['trials']}"
                      + (f"  hooks {run['hook_s']:.2f} s (end {run['end_s']:.2f} s)" if mode == "on" else ""),
                      flush=True)
    ray.shutdown()

    off = statistics.median(run["wall_s"] for run in runs["off"])
    on = statistics.median(run["wall_s"] for run in runs["on"])
    hook = statistics.median(run["hook_s"] for run in runs["on"])
    summary = {
        "median_off_s": off,
        "median_on_s": on,
        "overhead_pct": 100 * (on - off) / off,
        "median_hook_s": hook,
        "hook_pct_of_off": 100 * hook / off,
        "median_end_s": statistics.median(run["end_s"] for run in runs["on"]),
        "target_pct": TARGET_PCT,
    }
    settings = {"spec": str(QUICKSTART.relative_to(REPO_ROOT)), "overrides": args.overrides,
                "repetitions": args.repetitions, "tracking_uri": args.tracking_uri or "sqlite (run directory)",
                "cpus": 2, "ray": ray.__version__}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"settings": settings, "summary": summary, "runs": runs}, indent=2) + "\n")
    print(f"off {off:.1f} s, on {on:.1f} s (medians): overhead {summary['overhead_pct']:+.1f} % of wall time; "
          f"callback hooks {hook:.2f} s = {summary['hook_pct_of_off']:.1f} % (target ≤ {TARGET_PCT:g} %)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
