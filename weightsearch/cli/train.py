"""``weightsearch train CONFIG``: train one trial config with a progress bar, then print its final metrics."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from weightsearch.errors import NonFiniteLossError


def add_parsers(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train one configuration (a trial config YAML)")
    train.add_argument("config", help="trial config YAML (as `weightsearch best --format yaml` emits)")
    train.add_argument("--out", help="directory for checkpoints and the final metrics (default: none kept)")
    train.add_argument("--steps", type=int, help="override the number of training steps")
    train.add_argument("--device", help='override the device ("cpu", "cuda", "cuda:1")')
    train.add_argument("--format", choices=["table", "json"], default="table", help="final metrics format")
    train.set_defaults(handler=train_command)


def train_command(args: argparse.Namespace) -> int:
    """Train ``args.config``; exit 0 when done, 1 when a loss turned non-finite (user errors raise ``UserError``).

    ``--out DIR`` keeps a checkpoint per report in ``DIR/checkpoints/`` and the final metrics in
    ``DIR/metrics.json``. A plug-in ``model: "package.module:function"`` is imported from the current
    directory as well as from installed packages, as ``python -m`` would.
    """
    from weightsearch.config import load_trial_config

    overrides = {field: value for field, value in (("steps", args.steps), ("device", args.device)) if value is not None}
    if args.steps is not None:
        # A shorter run still reports: evaluate at least at its last step.
        overrides["eval_every"] = min(args.steps, load_trial_config(args.config).eval_every)
    config = load_trial_config(args.config, overrides)
    from weightsearch.trial import put_working_directory_on_path, train  # torch: only this command needs it

    put_working_directory_on_path()
    out = Path(args.out) if args.out else None

    progress_bar = _StepBar()
    try:
        try:
            metrics = train(config, checkpoint_dir=out / "checkpoints" if out else None, progress=progress_bar)
        finally:
            progress_bar.close()
    except NonFiniteLossError as error:
        print(f"weightsearch train: failed: {error}", file=sys.stderr)
        return 1

    if out is not None:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if args.format == "json":
        print(json.dumps(metrics, indent=2))
    else:
        Console().print(_metrics_table(metrics, str(args.config)))
    return 0


class _StepBar:
    """A rich progress bar on stderr that appears with the first step, so an error while building prints alone."""

    def __init__(self) -> None:
        columns = (TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        self._progress = Progress(*columns, console=Console(stderr=True))
        self._bar: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._progress.start()
            self._bar = self._progress.add_task("training", total=total)
        self._progress.update(self._bar, completed=done)

    def close(self) -> None:
        # Stopping a bar that never started would still print an empty line.
        if self._bar is not None:
            self._progress.stop()


def _metrics_table(metrics: dict[str, float], title: str) -> Table:
    """The final metrics, one row each, in sections: training averages, validation, per seed, bookkeeping."""
    table = Table(title=f"final metrics: {title}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    groups = [
        [name for name in metrics if name.startswith("train/")],
        [name for name in metrics if name.startswith("val/")],
        [name for name in metrics if name.startswith("seed")],  # each seed's own values (trial.repeats > 1)
        [name for name in metrics if not name.startswith(("train/", "val/", "seed"))],
    ]
    for group in (group for group in groups if group):
        for name in group:
            table.add_row(name, f"{metrics[name]:.6g}")
        table.add_section()
    return table
