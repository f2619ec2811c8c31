"""Strategy step cost: each weighting strategy's training-step time relative to a plain weighted sum.

Run ``python -m benchmarks.strategy_cost [--quick] [--out DIR]``. The model is the product's reference
VLA (``weightsearch/vla``), size ``tiny`` on the CPU and ``base`` on CUDA (bf16 autocast, as the
trainer), built by the trial's own factory and builders. Every row trains its own copy of the same
initial model on the same batches; a step is what the trainer does (batch, forward, losses in fp32,
the composite loss, backward, gradient clipping, AdamW, the learning-rate schedule, the per-step
record into the metric averager), and the baseline row replaces the composite by ``Σ λ_i L_i``
written by hand (λ_i = 1, the ``fixed`` default). In each round every row runs a block of steps, in
an order rotated from round to round; each row's ratio is taken to the baseline's block of the same
round. Warm-up rounds are not timed.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmarks.common import SuiteReport, Target, format_spread, markdown_table, spread, suite_main
from weightsearch.composite import CompositeLoss
from weightsearch.trial import TrialConfig
from weightsearch.trial.averager import MetricAverager
from weightsearch.trial.components import TrialComponents
from weightsearch.trial.device import mixed_precision
from weightsearch.trial.plugin import build_components
from weightsearch.trial.schedule import warmup_cosine

NAME = "strategy_cost"
PLAIN = "plain weighted sum"
THREADS = 1
"""Torch intra-op threads while measuring: one, so the two rows of a ratio never compete for cores."""


@dataclass(frozen=True)
class Row:
    """One benchmark row: a strategy as a trial config names it, with diagnostics at every step or never."""

    label: str
    strategy: str
    strategy_params: dict[str, Any] = field(default_factory=dict)
    diagnostics: bool = False


ROWS = (
    Row("fixed", "fixed"),
    Row("importance", "importance"),
    Row("uncertainty", "uncertainty"),
    Row("dwa", "dwa"),
    Row("rlw", "rlw"),
    Row("famo", "famo"),
    Row("gradnorm", "gradnorm"),
    # UPGrad needs no cvxpy (cagrad and nash_mtl do).
    Row("torchjd (upgrad)", "torchjd", {"aggregator": "upgrad"}),
    Row("fixed + diagnostics", "fixed", diagnostics=True),
)

CHEAP = ("fixed", "importance", "uncertainty", "dwa", "rlw", "famo")
CHEAP_LIMIT = 1.05
GRADNORM_LIMIT = 1.3
DIAGNOSTICS_LIMIT = 1.01
"""Amortised cost of gradient diagnostics at the trial defaults: what every sweep pays without asking."""
DEFAULT_EVAL_EVERY = TrialConfig.model_fields["eval_every"].default
DEFAULT_DIAGNOSTICS = TrialConfig.model_fields["diagnostics"].default


@dataclass(frozen=True)
class Plan:
    """How much to measure: rounds (the unit of a ratio), steps per row in a round, untimed rounds first."""

    rounds: int
    steps_per_round: int
    warmup_rounds: int

    @property
    def total_steps(self) -> int:
        return (self.warmup_rounds + self.rounds) * self.steps_per_round


QUICK = Plan(rounds=6, steps_per_round=3, warmup_rounds=1)
FULL = Plan(rounds=25, steps_per_round=8, warmup_rounds=2)


def run(*, quick: bool, out_dir: Path) -> SuiteReport:
    """Measure every row against the plain weighted sum and write the bar chart into ``out_dir``."""
    started = time.perf_counter()
    plan = QUICK if quick else FULL
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    size = "base" if device.type == "cuda" else "tiny"
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        step_ms = measure(plan, device, size)
    finally:
        # python -m benchmarks runs the other suites in this process after this one.
        torch.set_num_threads(previous_threads)

    labels = list(step_ms)
    ratios = {label: [mine / plain for mine, plain in zip(step_ms[label], step_ms[PLAIN])] for label in labels}
    summaries = {
        label: {"step_ms": spread(step_ms[label]), "ratio": spread(ratios[label])} for label in labels
    }
    targets = _targets(summaries)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = _plot(summaries, out_dir / f"{NAME}.png", device, size)
    config = _config(ROWS[0], size, device, plan)
    settings = {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "autocast": "bf16" if device.type == "cuda" else None,
        "model": f"reference VLA, size {size}",
        "batch_size": config.batch_size,
        "seed": config.seed,
        "grad_clip": config.grad_clip,
        "torch_threads": THREADS,
        "rounds": plan.rounds,
        "steps_per_round": plan.steps_per_round,
        "warmup_rounds": plan.warmup_rounds,
        "rows": {
            row.label: {"strategy": row.strategy, **row.strategy_params, "diagnostics": row.diagnostics} for row in ROWS
        },
    }
    return SuiteReport(
        name=NAME,
        title="Strategy step cost",
        quick=quick,
        settings=settings,
        results={"step_ms": step_ms, "ratio": ratios, "summary": summaries},
        markdown=_markdown(summaries, settings),
        targets=targets,
        plots=[str(plot)],
        wall_s=time.perf_counter() - started,
    )


def measure(plan: Plan, device: torch.device, size: str) -> dict[str, list[float]]:
    """Mean step time (ms) of every row in each timed round; the baseline row first in the result."""
    base_config = _config(ROWS[0], size, device, plan)
    components = build_components(
        base_config.model, base_config.options, seed=base_config.seed, batch_size=base_config.batch_size, device=device
    )
    steps = {PLAIN: _make_step(base_config, components, None, device)}
    for row in ROWS:
        steps[row.label] = _make_step(_config(row, size, device, plan), components, row, device)
    labels = list(steps)
    step_ms: dict[str, list[float]] = {label: [] for label in labels}
    next_step = dict.fromkeys(labels, 0)
    for round_index in range(plan.warmup_rounds + plan.rounds):
        # Rotate the order so that drift and each row's after-effects (caches, allocator) hit all rows alike.
        offset = round_index % len(labels)
        for label in labels[offset:] + labels[:offset]:
            _synchronize(device)
            begin = time.perf_counter()
            for _ in range(plan.steps_per_round):
                steps[label](next_step[label])
                next_step[label] += 1
            _synchronize(device)
            if round_index >= plan.warmup_rounds:
                step_ms[label].append(1000 * (time.perf_counter() - begin) / plan.steps_per_round)
        timed = round_index + 1 - plan.warmup_rounds
        kind = f"round {timed}/{plan.rounds}" if timed > 0 else f"warm-up round {round_index + 1}/{plan.warmup_rounds}"
        print(f"{NAME}: {kind} done", flush=True)
    return step_ms


def _config(row: Row, size: str, device: torch.device, plan: Plan) -> TrialConfig:
    """The trial config of a row; the schedule spans exactly the steps the row will take."""
    return TrialConfig(
        options={"size": size},
        strategy=row.strategy,
        strategy_params=row.strategy_params,
        diagnostics=row.diagnostics,
        steps=plan.total_steps,
        eval_every=plan.total_steps,
        device=device.type,
    )


def _make_step(
    config: TrialConfig, components: TrialComponents, row: Row | None, device: torch.device
) -> Callable[[int], None]:
    """One training step of a fresh copy of the model, as the trainer's loop runs it; ``row=None``: the plain sum."""
    model = copy.deepcopy(components.model)
    # The plain row builds the composite too (unused): the optimizer's parameter groups come with it.
    composite, optimizer = _trainer_parts(config, components, model, device)
    scheduler = warmup_cosine(optimizer, config.steps)
    shared_parameters = list(components.shared_parameters(model))
    averager = MetricAverager()

    def step(index: int) -> None:
        with mixed_precision(device):
            losses = components.task_losses(model, components.train_batch(index))
        losses = {task: loss.float() for task, loss in losses.items()}
        record = None
        if row is None:
            total = sum(losses.values())
        else:
            record = composite(losses, index, shared_parameters=shared_parameters, diagnostics=row.diagnostics)
            total = record.total
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        if record is not None:
            averager.add(record.metrics("train"))

    return step


def _trainer_parts(
    config: TrialConfig, components: TrialComponents, model: nn.Module, device: torch.device
) -> tuple[CompositeLoss, torch.optim.Optimizer]:
    """The composite loss (on ``device``) and AdamW exactly as a trial builds them: loss forms, groups, decay."""
    from weightsearch.trial.trainer import build_composite, build_optimizer

    composite = build_composite(config, components).to(device)
    return composite, build_optimizer(config, model, composite)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _targets(summaries: dict[str, dict[str, dict[str, float]]]) -> list[Target]:
    """The targets: the six cheap strategies ≤ 1.05×, gradnorm ≤ 1.3×, diagnostics at the defaults ≤ 1.01×.

    The trainer computes diagnostics at report steps only, when ``TrialConfig.diagnostics`` is on, so
    what a sweep pays by default is the measured cost of a step with them spread over ``eval_every``
    steps (nothing when the default is off).
    """
    cheap_medians = {label: summaries[label]["ratio"]["median"] for label in CHEAP}
    worst = max(cheap_medians, key=cheap_medians.__getitem__)
    gradnorm = summaries["gradnorm"]["ratio"]["median"]
    diagnostics = summaries["fixed + diagnostics"]["ratio"]["median"]
    amortised = 1 + (diagnostics - 1) / DEFAULT_EVAL_EVERY if DEFAULT_DIAGNOSTICS else 1.0
    default = f"on, at report steps every {DEFAULT_EVAL_EVERY}" if DEFAULT_DIAGNOSTICS else "off"
    return [
        Target(
            name="fixed, importance, uncertainty, dwa, rlw, famo",
            wanted=f"each ≤ {CHEAP_LIMIT}× the plain sum (median)",
            measured=f"worst {worst} {cheap_medians[worst]:.3f}×; "
            + ", ".join(f"{label} {value:.3f}" for label, value in cheap_medians.items()),
            met=all(value <= CHEAP_LIMIT for value in cheap_medians.values()),
        ),
        Target(
            name="gradnorm",
            wanted=f"≤ {GRADNORM_LIMIT}× the plain sum (median)",
            measured=f"{gradnorm:.3f}×",
            met=gradnorm <= GRADNORM_LIMIT,
        ),
        Target(
            name="gradient-conflict diagnostics",
            wanted=f"≤ {DIAGNOSTICS_LIMIT}× amortised at the trial defaults (diagnostics {default})",
            measured=f"a step with them costs {diagnostics:.2f}×; amortised at the defaults {amortised:.4f}×",
            met=amortised <= DIAGNOSTICS_LIMIT,
        ),
    ]


def _markdown(summaries: dict[str, dict[str, dict[str, float]]], settings: dict[str, Any]) -> str:
    """Setup line and the per-row table: step time and ratio to the plain sum, median (min–max) over rounds."""
    limits = {**dict.fromkeys(CHEAP, f"≤ {CHEAP_LIMIT}×"), "gradnorm": f"≤ {GRADNORM_LIMIT}×"}
    limits["fixed + diagnostics"] = f"≤ {DIAGNOSTICS_LIMIT}× amortised"
    rows = [
        [
            label,
            format_spread(summary["step_ms"], digits=2),
            format_spread(summary["ratio"], digits=3),
            limits.get(label, "—"),
        ]
        for label, summary in summaries.items()
    ]
    precision = "bf16 autocast" if settings["autocast"] else "fp32"
    setup = (
        f"{settings['model']} on {settings['device_name']} ({precision}), batch {settings['batch_size']}, "
        f"torch threads {settings['torch_threads']}. {settings['rounds']} timed rounds after "
        f"{settings['warmup_rounds']} warm-up rounds; in each round every row runs {settings['steps_per_round']} "
        "steps, in an order rotated every round, and its ratio is to the plain sum's steps of the same round. "
        "A step is the trainer's (batch, forward, composite loss, backward, clipping, AdamW, schedule, record); "
        "the plain row sums the task losses by hand. Diagnostics row: gradient norms and cosines at every step "
        "(the trainer computes them at report steps only). torchjd has no target (optional extra)."
    )
    table = markdown_table(["strategy", "step ms", "ratio to plain", "target"], rows)
    return f"{setup}\n\n{table}"


def _plot(summaries: dict[str, dict[str, dict[str, float]]], path: Path, device: torch.device, size: str) -> Path:
    """Bar chart of each row's median ratio with min–max whiskers and the target lines."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    labels = [label for label in summaries if label != PLAIN]
    medians = [summaries[label]["ratio"]["median"] for label in labels]
    below = [median - summaries[label]["ratio"]["min"] for label, median in zip(labels, medians)]
    above = [summaries[label]["ratio"]["max"] - median for label, median in zip(labels, medians)]
    figure, axes = pyplot.subplots(figsize=(9, 4.5))
    axes.bar(labels, medians, yerr=[below, above], capsize=4, color="tab:blue", alpha=0.8)
    axes.axhline(1.0, color="black", linewidth=0.8, label="plain weighted sum")
    axes.axhline(CHEAP_LIMIT, color="tab:green", linestyle="--", label=f"target {CHEAP_LIMIT}× (fixed … famo)")
    axes.axhline(GRADNORM_LIMIT, color="tab:orange", linestyle="--", label=f"target {GRADNORM_LIMIT}× (gradnorm)")
    axes.set_ylabel("step time ÷ plain weighted sum")
    axes.set_title(f"Strategy step cost, reference VLA {size} on {device.type} (median, min–max over rounds)")
    axes.tick_params(axis="x", labelrotation=30)
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    return suite_main(run, __doc__, f"{QUICK.rounds} rounds of {QUICK.steps_per_round} steps", argv)


if __name__ == "__main__":
    raise SystemExit(main())
