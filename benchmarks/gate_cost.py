"""Driver cost of the calibrated pruning gate per result, on a 200-trial SQLite study as a sweep stores it.

Three copies of one study (200 COMPLETE trials with 8 evaluations each, the product's SQLite storage
with WAL, :func:`~weightsearch.search.tuner.study_storage`) are opened with three pruners: none
(``NopPruner``), ``median`` and ``median`` gated by :class:`CalibratedPruner` (min_complete 6,
min_rho 0.8). Early evaluations rank the trials poorly (ρ ≈ 0.3 at the first), late ones well, so
the gate is closed at some steps and open at others. Then ``TRIALS`` new trials run two at a time,
their results interleaved; each result is reported (``trial.report``) and timed in
``trial.should_prune()`` on the three studies in turn, in a rotated order. Each trial is told
COMPLETE after its last result, so the gate recomputes ρ as a sweep's would. The gate's own cost is
its ``should_prune`` time minus the time spent in its inner pruner (timed inside it).

    python -m benchmarks.gate_cost [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna
from optuna.trial import TrialState

from benchmarks import common
from weightsearch.search.calibration import CalibratedPruner
from weightsearch.search.tuner import study_storage

HISTORY, TRIALS, STEPS = 200, 24, tuple(range(50, 401, 50))
SEED = 0


class _TimedPruner(optuna.pruners.BasePruner):
    """The inner pruner, timing each of its calls (so the gate's own share can be told apart)."""

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner
        self.seconds: list[float] = []

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        start = time.perf_counter()
        try:
            return self.inner.prune(study, trial)
        finally:
            self.seconds.append(time.perf_counter() - start)


def _curve(rng: random.Random) -> tuple[float, dict[int, float]]:
    final = rng.uniform(0.0, 1.0)
    # The share of noise shrinks with the step: ρ ≈ 0.3 at the first evaluation, ≈ 1 at the last.
    return final, {step: final + rng.gauss(0.0, 0.6 * (1 - step / STEPS[-1]) + 0.01) for step in STEPS}


def _history(path: Path) -> None:
    rng = random.Random(SEED)
    # SQLite's default journal here, so that the file holds every trial when it is copied (WAL keeps some aside).
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name="gate-cost")
    distribution = optuna.distributions.FloatDistribution(0.0, 1.0)
    trials = []
    for _ in range(HISTORY):
        final, values = _curve(rng)
        trials.append(
            optuna.trial.create_trial(
                params={"x": final}, distributions={"x": distribution}, value=final, intermediate_values=values
            )
        )
    study.add_trials(trials)


def run(out_dir: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix="gate-cost-"))
    try:
        _history(work / "base.db")
        timed_inner = _TimedPruner(optuna.pruners.MedianPruner(n_startup_trials=5))
        pruners = {
            "none": optuna.pruners.NopPruner(),
            "median": optuna.pruners.MedianPruner(n_startup_trials=5),
            "gated_median": CalibratedPruner(timed_inner, min_complete=6, min_rho=0.8),
        }
        studies = {}
        for name, pruner in pruners.items():
            shutil.copy(work / "base.db", work / f"{name}.db")
            storage = study_storage(f"sqlite:///{work / f'{name}.db'}")
            studies[name] = optuna.load_study(study_name="gate-cost", storage=storage, pruner=pruner)
        seconds: dict[str, list[float]] = {name: [] for name in studies}
        gate_own: dict[str, list[float]] = {"open": [], "closed": []}
        rng = random.Random(SEED + 1)
        curves = [_curve(rng) for _ in range(TRIALS)]
        names = list(studies)
        for pair in range(0, TRIALS, 2):
            running = {name: [study.ask() for _ in range(2)] for name, study in studies.items()}
            stopped = {name: set() for name in studies}
            for index, step in enumerate(step for step in STEPS for _ in range(2)):
                which = index % 2
                value = curves[pair + which][1][step]
                order = names[index % 3 :] + names[: index % 3]
                for name in order:
                    if which in stopped[name]:
                        continue
                    trial = running[name][which]
                    trial.report(value, step)
                    inner_calls = len(timed_inner.seconds)
                    start = time.perf_counter()
                    prune = trial.should_prune()
                    elapsed = time.perf_counter() - start
                    seconds[name].append(elapsed)
                    if name == "gated_median":
                        inner = timed_inner.seconds[inner_calls:]
                        gate_own["open" if inner else "closed"].append(elapsed - sum(inner))
                    if prune:
                        studies[name].tell(trial, state=TrialState.PRUNED)
                        stopped[name].add(which)
            for name, study in studies.items():
                for which, trial in enumerate(running[name]):
                    if which not in stopped[name]:
                        study.tell(trial, curves[pair + which][0])
        table = studies["gated_median"].user_attrs.get("calibration", {})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def ms(values: list[float]) -> dict:
        return (
            {
                "median_ms": 1000 * statistics.median(values),
                "mean_ms": 1000 * statistics.fmean(values),
                "max_ms": 1000 * max(values),
                "calls": len(values),
            }
            if values
            else {"calls": 0}
        )

    report = {
        "history_trials": HISTORY,
        "new_trials": TRIALS,
        "steps": list(STEPS),
        "should_prune": {name: ms(values) for name, values in seconds.items()},
        "gate_own": {
            "all": ms(gate_own["open"] + gate_own["closed"]),
            "open_steps": ms(gate_own["open"]),
            "closed_steps": ms(gate_own["closed"]),
        },
        "calibration": table,
        "machine": common.machine(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gate_cost.json").write_text(json.dumps(report, indent=2))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR)
    arguments = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    report = run(arguments.out)
    print(json.dumps({key: report[key] for key in ("should_prune", "gate_own")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
