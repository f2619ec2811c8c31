"""Multi-seed trial cost: one trial with ``repeats: R`` against the same R seeds run as R separate trials.

Run ``python -m benchmarks.repeats_cost [--quick] [--out DIR]``. The trial is the product's reference
VLA (``weightsearch/vla``), size ``tiny``, on the CPU with one torch thread, and otherwise the
trial defaults (batch 32, fixed weights, diagnostics at report steps, clipping, AdamW, schedule).
Each round times, in an order alternated from round to round, (a) :func:`weightsearch.trial.train`
of the config with ``repeats: R`` (seeds 0 … R-1 in lockstep in one process) and (b) R calls of
``train`` with ``repeats: 1`` and seeds 0 … R-1, one after the other; both write their checkpoints
at every report, as a sweep's trials do. Measured: wall-clock seconds of the whole call (model and
data built, every step, evaluation, checkpoints), and ``time/train_s`` (training steps only). The
ratio of a round is (a) ÷ (b); the figure is its median over the rounds after one untimed warm-up
round. The separate trials here pay no Ray or process start-up, which real separate trials would:
the comparison is the least favourable to the multi-seed trial. Each round also checks that every
seed's final metrics in (a) are bit-identical to its separate trial's.

The machine may be shared (other jobs running): medians and min–max over rounds, not single runs.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import SuiteReport, Target, format_spread, markdown_table, spread, suite_main
from weightsearch.contracts import RESULT_STEP, RESULT_TRAIN_SECONDS, seed_metric
from weightsearch.trial import TrialConfig, train

NAME = "repeats_cost"
REPEATS = 3
LIMIT = 1.1
THREADS = 1
"""Torch intra-op threads while measuring: one, as a trial packed one per core would run."""
SIZE = "tiny"


@dataclass(frozen=True)
class Plan:
    """How much to measure: trial length, timed rounds (the unit of a ratio), untimed rounds first."""

    steps: int
    eval_every: int
    rounds: int
    warmup_rounds: int


QUICK = Plan(steps=30, eval_every=10, rounds=3, warmup_rounds=1)
FULL = Plan(steps=200, eval_every=50, rounds=9, warmup_rounds=1)


def run(*, quick: bool, out_dir: Path) -> SuiteReport:
    """Time the multi-seed trial against its seeds as separate trials, round after round."""
    started = time.perf_counter()
    plan = QUICK if quick else FULL
    config = TrialConfig(
        options={"size": SIZE}, steps=plan.steps, eval_every=plan.eval_every, device="cpu", seed=0
    )
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        rounds = measure(config, plan)
    finally:
        # python -m benchmarks runs the other suites in this process after this one.
        torch.set_num_threads(previous_threads)

    timed = rounds[plan.warmup_rounds :]
    ratios = {
        kind: [one[f"lockstep_{kind}"] / one[f"separate_{kind}"] for one in timed] for kind in ("wall_s", "train_s")
    }
    summary = {
        **{key: spread(one[key] for one in timed) for key in timed[0] if key != "identical"},
        "ratio_wall": spread(ratios["wall_s"]),
        "ratio_train": spread(ratios["train_s"]),
    }
    identical = all(one["identical"] for one in rounds)
    settings = {
        "model": f"reference VLA, size {SIZE}",
        "device": "cpu",
        "torch_threads": THREADS,
        "repeats": REPEATS,
        "seeds": list(range(config.seed, config.seed + REPEATS)),
        "steps": plan.steps,
        "eval_every": plan.eval_every,
        "batch_size": config.batch_size,
        "strategy": config.strategy,
        "diagnostics": config.diagnostics,
        "rounds": plan.rounds,
        "warmup_rounds": plan.warmup_rounds,
        "checkpoints": "at every report",
    }
    median = summary["ratio_wall"]["median"]
    target = Target(
        name=f"repeats: {REPEATS} vs {REPEATS} separate trials",
        wanted=f"≤ {LIMIT}× the wall time of the same seeds as separate trials (median)",
        measured=f"{format_spread(summary['ratio_wall'], digits=3)}×; per-seed metrics bit-identical: {identical}",
        met=median <= LIMIT and identical,
    )
    return SuiteReport(
        name=NAME,
        title="Multi-seed trial cost",
        quick=quick,
        settings=settings,
        results={"rounds": rounds, "ratio": ratios, "summary": summary, "identical": identical},
        markdown=_markdown(summary, settings),
        targets=[target],
        wall_s=time.perf_counter() - started,
    )


def measure(config: TrialConfig, plan: Plan) -> list[dict[str, Any]]:
    """Per round (warm-up rounds first): wall and training seconds of both ways, and whether their seeds agree."""
    rounds = []
    for round_index in range(plan.warmup_rounds + plan.rounds):
        # Alternate which way runs first, so that drift and after-effects (allocator, caches) hit both alike.
        ways = (_lockstep, _separate) if round_index % 2 == 0 else (_separate, _lockstep)
        figures: dict[str, Any] = {}
        finals: dict[str, list[dict[str, float]]] = {}
        for way in ways:
            label, wall_s, train_s, per_seed = way(config)
            figures[f"{label}_wall_s"], figures[f"{label}_train_s"] = wall_s, train_s
            finals[label] = per_seed
        figures["identical"] = finals["lockstep"] == finals["separate"]
        rounds.append(figures)
        timed = round_index + 1 - plan.warmup_rounds
        kind = f"round {timed}/{plan.rounds}" if timed > 0 else f"warm-up round {round_index + 1}/{plan.warmup_rounds}"
        print(
            f"{NAME}: {kind}: lockstep {figures['lockstep_wall_s']:.1f} s, separate {figures['separate_wall_s']:.1f} s, "
            f"ratio {figures['lockstep_wall_s'] / figures['separate_wall_s']:.3f}",
            flush=True,
        )
    return rounds


def _lockstep(config: TrialConfig) -> tuple[str, float, float, list[dict[str, float]]]:
    """One trial of all the seeds: its wall seconds, training seconds and each seed's final metrics."""
    wall_s, final = _timed_train(config.model_copy(update={"repeats": REPEATS}))
    per_seed = [
        {name: final[seed_metric(name, index)] for name in _seed_names(final, index)} for index in range(REPEATS)
    ]
    return "lockstep", wall_s, final[RESULT_TRAIN_SECONDS], per_seed


def _separate(config: TrialConfig) -> tuple[str, float, float, list[dict[str, float]]]:
    """One single-seed trial per seed, one after the other: summed seconds and each one's final metrics."""
    wall_s, train_s, per_seed = 0.0, 0.0, []
    for index in range(REPEATS):
        seconds, final = _timed_train(config.model_copy(update={"seed": config.seed + index}))
        wall_s += seconds
        train_s += final[RESULT_TRAIN_SECONDS]
        per_seed.append({name: value for name, value in final.items() if name not in (RESULT_STEP, RESULT_TRAIN_SECONDS)})
    return "separate", wall_s, train_s, per_seed


def _timed_train(config: TrialConfig) -> tuple[float, dict[str, float]]:
    """``train(config)`` writing checkpoints into a scratch folder; its wall seconds and final metrics."""
    with tempfile.TemporaryDirectory(prefix="ws-repeats-cost-") as scratch:
        began = time.perf_counter()
        final = train(config, checkpoint_dir=Path(scratch))
        return time.perf_counter() - began, final


def _seed_names(final: dict[str, float], index: int) -> list[str]:
    """The metric names seed ``index`` reports in a multi-seed trial's ``final`` metrics."""
    prefix = seed_metric("", index)
    return [name.removeprefix(prefix) for name in final if name.startswith(prefix)]


def _markdown(summary: dict[str, dict[str, float]], settings: dict[str, Any]) -> str:
    """Setup line and the table: seconds of both ways and their ratio, median (min–max) over rounds."""
    repeats = settings["repeats"]
    rows = [
        ["wall s (build, steps, evaluation, checkpoints)", format_spread(summary["lockstep_wall_s"]),
         format_spread(summary["separate_wall_s"]), format_spread(summary["ratio_wall"], digits=3)],
        ["training-step s (time/train_s)", format_spread(summary["lockstep_train_s"]),
         format_spread(summary["separate_train_s"]), format_spread(summary["ratio_train"], digits=3)],
    ]
    setup = (
        f"{settings['model']} on the CPU, torch threads {settings['torch_threads']}, batch {settings['batch_size']}, "
        f"{settings['steps']} steps, a report (evaluation, checkpoint) every {settings['eval_every']}. "
        f"`repeats: {repeats}` (seeds {settings['seeds']} in lockstep in one process) against {repeats} single-seed "
        f"trials of those seeds run one after the other in the same process (no Ray start-up: the least favourable "
        f"comparison). {settings['rounds']} timed rounds after {settings['warmup_rounds']} warm-up round(s), the "
        "order alternated every round; a ratio is taken within its round."
    )
    table = markdown_table(["", f"repeats: {repeats}", f"{repeats} separate trials", "ratio"], rows)
    return f"{setup}\n\n{table}"


def main(argv: list[str] | None = None) -> int:
    return suite_main(run, __doc__, f"{QUICK.rounds} rounds of {QUICK.steps}-step trials", argv)


if __name__ == "__main__":
    raise SystemExit(main())
