"""The result commands: `best` and `show` read a recorded sweep back from MLflow (parsers and handlers)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import yaml
from rich.console import Console
from rich.table import Table

from weightsearch.errors import UserError
from weightsearch.redact import without_password

if TYPE_CHECKING:
    from weightsearch.tracking.query import RankedTrial, RecordedSweep

MAX_TOP = 10_000  # MLflow answers at most 50,000 runs a page; a table this long is already unreadable


def add_parsers(commands: argparse._SubParsersAction) -> None:
    best = commands.add_parser("best", help="the best configurations of a sweep, read from MLflow")
    best.add_argument("name", help="sweep name (its MLflow experiment)")
    best.add_argument("--top", type=int, default=5, help="how many (default 5)")
    best.add_argument("--storage-path", help="run directory root, to find the default tracking URI")
    best.add_argument("--tracking-uri", help="MLflow tracking URI")
    best.add_argument("--filter", help="""MLflow filter, e.g. "params.strategy = 'gradnorm'\"""")
    best.add_argument("--format", choices=["table", "json", "yaml"], default="table")
    best.set_defaults(handler=best_command)

    show = commands.add_parser("show", help="the sweep's parent run and a per-strategy summary, from MLflow")
    show.add_argument("name", help="sweep name")
    show.add_argument("--storage-path", help="run directory root, to find the default tracking URI")
    show.add_argument("--tracking-uri", help="MLflow tracking URI")
    show.set_defaults(handler=show_command)


def best_command(args: argparse.Namespace) -> int:
    """Print the best COMPLETE trials of sweep ``args.name``: a table, JSON, or (rank 1) a trial config YAML."""
    from weightsearch.tracking.query import best_trials, open_sweep, read_confirmation

    if not 1 <= args.top <= MAX_TOP:
        raise UserError(f"--top: must be between 1 and {MAX_TOP:,} (got {args.top})")
    # MLflow draws a progress bar for every artifact it reads (the confirmation report): noise here.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    sweep = open_sweep(args.name, tracking_uri=args.tracking_uri, storage_path=args.storage_path)
    confirmation = read_confirmation(sweep)
    confirmed = _confirmed_trials(confirmation)
    # Confirmed trials first, by their confirmed mean; then the others by their single search run.
    trials = best_trials(sweep, top=args.top + len(confirmed), filter_string=args.filter)
    order = list(confirmed)
    trials = sorted(trials, key=lambda trial: order.index(trial.trial_number) if trial.trial_number in confirmed
                    else len(order))[: args.top]
    if args.format == "json":
        rows = [{**trial.as_json(sweep.objectives), "confirmation": _confirmation_json(confirmation, trial.trial_number)}
                for trial in trials]
        print(json.dumps(rows, indent=2))
    elif args.format == "yaml":
        print(_trial_config_yaml(sweep, trials, confirmation), end="")
    else:
        _print_table(sweep, trials, confirmation)
    return 0


def _confirmed_trials(confirmation: dict[str, Any] | None) -> dict[int, dict[str, Any]]:
    """Confirmed searched trials by number, in the confirmation's rank order."""
    entries = (confirmation or {}).get("configurations", [])
    return {entry["trial_number"]: entry for entry in entries if entry.get("trial_number") is not None}


def _confirmation_json(confirmation: dict[str, Any] | None, number: int) -> dict[str, Any] | None:
    """What `best --format json` says of a trial's confirmation (None: a single search run, unconfirmed)."""
    entry = _confirmed_trials(confirmation).get(number)
    if entry is None:
        return None
    return {
        "seeds": confirmation["seeds"],
        "scale": confirmation["scale"],
        **entry["summary"],
        "default_baseline": confirmation["default_baseline"],
        "versus": entry["versus"],
    }


def _confirmed_cells(confirmation: dict[str, Any] | None, number: int) -> tuple[str, str]:
    """The table's confirmed-mean and versus-baseline cells of one trial."""
    entry = _confirmed_trials(confirmation).get(number)
    if entry is None:
        return "single run", "-"
    summary = entry["summary"]
    versus = entry["versus"].get(confirmation["default_baseline"])
    mean = f"{summary['mean']:.4g} [{summary['ci_low']:.4g}, {summary['ci_high']:.4g}]"
    if versus is None:
        return mean, "-"
    return mean, f"{versus['mean_difference']:+.3g} [{versus['ci_low']:+.3g}, {versus['ci_high']:+.3g}] p={versus['p_t']:.2g}"


def show_command(args: argparse.Namespace) -> int:
    """Print sweep ``args.name``'s parent run, its trials per state and a per-strategy summary."""
    from weightsearch.tracking import names
    from weightsearch.tracking.connection import is_remote
    from weightsearch.tracking.query import (
        open_sweep,
        state_counts,
        strategy_summaries,
        trial_runs,
    )

    sweep = open_sweep(args.name, tracking_uri=args.tracking_uri, storage_path=args.storage_path)
    runs = trial_runs(sweep)
    objectives = sweep.objectives
    console = Console(highlight=False)
    tags = sweep.parent.data.tags
    console.print(f"sweep        {sweep.name}  (sampler {tags.get(names.SAMPLER)}, pruner {tags.get(names.PRUNER)})")
    console.print(f"tracking URI {without_password(sweep.location.tracking_uri)}")
    console.print(f"experiment   {sweep.location.experiment} (id {sweep.experiment_id})")
    console.print(f"parent run   {sweep.parent.info.run_id} ({sweep.parent.info.status})")
    # soft_wrap: a command or URL broken over lines cannot be copied
    if is_remote(sweep.location.tracking_uri):
        console.print(f"MLflow UI    {sweep.url}", soft_wrap=True)
    else:
        console.print(f"MLflow UI    mlflow ui --backend-store-uri {sweep.location.tracking_uri}", soft_wrap=True)
        console.print(f"             then {sweep.url}", soft_wrap=True)
    console.print(f"objective    {', '.join(f'{metric} ({direction})' for metric, direction in objectives)}")
    counts = state_counts(runs)
    console.print("trials       " + ", ".join(f"{state} {count}" for state, count in counts.items()) + f" (total {len(runs)})")
    table = Table(title=f"per strategy, by {objectives[0][0]}")
    for column in ("strategy", "trials", "complete", "best", "median"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for summary in strategy_summaries(runs, objectives[0]):
        table.add_row(summary.strategy, str(summary.trials), str(summary.complete),
                      _number(summary.best), _number(summary.median))
    console.print(table)
    return 0


def _trial_config_yaml(sweep: RecordedSweep, trials: Sequence[RankedTrial], confirmation: dict[str, Any] | None) -> str:
    """The best trial's resolved TrialConfig as YAML that `weightsearch train` reads as is."""
    from weightsearch.config import TrialConfig
    from weightsearch.tracking import names

    if not trials:
        raise UserError(f"sweep {sweep.name!r} has no COMPLETE trial (matching --filter): no configuration to emit")
    best = trials[0]
    if best.config is None:
        raise UserError(f"trial {best.trial_number} of sweep {sweep.name!r} has no {names.TRIAL_CONFIG} tag in MLflow")
    config = TrialConfig.model_validate(best.config)
    values = ", ".join(f"{metric}={value:.6g}" for metric, value in best.objectives.items())
    header = f"# Best trial of sweep {sweep.name!r}: trial {best.trial_number}, MLflow run {best.run_id}, {values}\n"
    mean, versus = _confirmed_cells(confirmation, best.trial_number)
    if mean != "single run":
        seeds = len(confirmation["seeds"])
        header += f"# confirmed on {seeds} paired seeds: mean [95% CI] {mean}; vs {confirmation['default_baseline']}: {versus}\n"
    else:
        header += "# a single search run, not confirmed (see `weightsearch confirm`)\n"
    return header + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def _print_table(sweep: RecordedSweep, trials: Sequence[RankedTrial], confirmation: dict[str, Any] | None) -> None:
    # Piped output gets room for the whole run id (rich would assume 80 columns).
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    if not trials:
        console.print(f"sweep {sweep.name!r}: no COMPLETE trial matches")
        return
    objectives = [metric for metric, _ in sweep.objectives]
    # The searched params that differ among the shown trials are what tells them apart.
    searched = sorted({name for trial in trials for name in trial.params})
    varying = [
        name for name in searched if len(trials) == 1 or len({json.dumps(trial.params.get(name)) for trial in trials}) > 1
    ]
    shown = (["strategy"] if "strategy" in searched and "strategy" not in varying else []) + varying
    table = Table(title=f"best trials of {sweep.name}")
    for column in ("rank", "trial", *objectives):
        table.add_column(column, justify="right", no_wrap=True)
    if confirmation is not None:
        seeds = len(confirmation["seeds"])
        table.add_column(f"confirmed ({seeds} seeds) [95% CI]", overflow="fold")
        table.add_column(f"vs {confirmation['default_baseline']}: Δ [95% CI]", overflow="fold")
    # One cell of name=value lines keeps the table readable at 80 columns whatever the space's size.
    table.add_column("params", min_width=30, overflow="fold")
    table.add_column("run id", no_wrap=True)  # to copy whole
    for rank, trial in enumerate(trials, start=1):
        # Only the parameters this trial has: another strategy's arguments would show as None.
        params = "\n".join(
            f"{name.removeprefix('strategy_params.')}={_value(trial.params[name])}" for name in shown if name in trial.params
        )
        table.add_row(
            str(rank),
            str(trial.trial_number),
            *(_number(trial.objectives[metric]) for metric in objectives),
            *(_confirmed_cells(confirmation, trial.trial_number) if confirmation is not None else ()),
            params,
            trial.run_id,
        )
    console.print(table)
    if confirmation is not None:
        scale = ", ".join(f"trial.{key}={value}" for key, value in confirmation["scale"].items())
        console.print(
            "Confirmed rows come first, by their mean over fresh paired seeds"
            + (f" (confirmed at another scale: {scale})" if scale else "")
            + f"; {objectives[0]} is each trial's single search run. Full table: weightsearch confirm {sweep.name}"
        )
        first = confirmation["configurations"][0] if confirmation["configurations"] else None
        if first is not None and first["kind"] == "baseline":
            console.print(
                f"The confirmation ranks the baseline {first['label']!r} first: no confirmed searched configuration "
                "beat it on these seeds."
            )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _value(value: Any) -> str:
    return _number(value) if isinstance(value, float) else str(value)
