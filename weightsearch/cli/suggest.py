"""The `suggest` command: fit a surrogate over λ to a sweep's finished trials and propose (or enqueue) the
configurations it predicts best (parser and handler; the surrogate is weightsearch.search.surrogate)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from weightsearch.cli.sweep import open_sweep
from weightsearch.contracts import ATTR_SUGGESTED
from weightsearch.errors import UserError

if TYPE_CHECKING:
    import optuna

    from weightsearch.config import SweepSpec
    from weightsearch.search.surrogate import Proposal


def add_parsers(commands: argparse._SubParsersAction) -> None:
    suggest = commands.add_parser(
        "suggest", help="fit a surrogate over λ to a sweep's finished trials and propose the next configurations"
    )
    suggest.add_argument("name", help="sweep name")
    suggest.add_argument("--n", type=int, default=5, help="how many configurations to propose (default 5)")
    suggest.add_argument(
        "--strategy", help="the strategy family to fit and propose (default: every family with enough finished trials)"
    )
    suggest.add_argument(
        "--enqueue",
        action="store_true",
        help="add the proposals to the study: the next `weightsearch resume NAME --num-samples K` trains them first",
    )
    suggest.add_argument("--storage-path", help="run directory root (default: ./ws-runs)")
    suggest.add_argument("--format", choices=["table", "json"], default="table")
    suggest.set_defaults(handler=suggest_command)


def suggest_command(args: argparse.Namespace) -> int:
    """Propose ``--n`` configurations of sweep ``args.name``; with ``--enqueue`` add them to its study as waiting trials."""
    if args.n < 1:
        raise UserError(f"--n: propose at least 1 configuration (got {args.n})")
    spec, study, _ = open_sweep(args.name, args.storage_path)
    if spec.is_multi_objective:
        raise UserError(
            f"sweep {spec.name!r} has {len(spec.metrics)} objectives ({', '.join(spec.metrics)}); "
            "the surrogate fits one: suggest works on single-objective sweeps"
        )
    trials = study.get_trials(deepcopy=False)
    proposals = propose_for_sweep(spec, trials, args.n, args.strategy)
    if args.enqueue:
        for proposal in proposals:
            # skip_if_exists: suggesting twice from the same trials proposes the same configurations again.
            study.enqueue_trial(
                proposal.params,
                user_attrs={ATTR_SUGGESTED: {"mean": proposal.mean, "std": proposal.std}},
                skip_if_exists=True,
            )
    if args.format == "json":
        print(json.dumps([_as_json(proposal) for proposal in proposals], indent=2))
    else:
        _print_table(spec, proposals)
    if args.enqueue:
        _print_enqueued(spec.name, trials, study.get_trials(deepcopy=False), json_output=args.format == "json")
    return 0


def _print_enqueued(
    name: str, before: list[optuna.trial.FrozenTrial], after: list[optuna.trial.FrozenTrial], *, json_output: bool
) -> None:
    """How many trials `--enqueue` added and the resume that trains them (on stderr under JSON, to keep it parseable)."""
    from optuna.trial import TrialState

    finished = sum(trial.state.is_finished() for trial in after)
    waiting = sum(trial.state == TrialState.WAITING for trial in after)
    added = len(after) - len(before)
    print(
        f"enqueued {added} trials ({waiting} waiting in all): "
        f"`weightsearch resume {name} --num-samples {finished + waiting}` trains them first",
        file=sys.stderr if json_output else sys.stdout,
    )


def propose_for_sweep(
    spec: SweepSpec, trials: list[optuna.trial.FrozenTrial], n: int, strategy: str | None
) -> list[Proposal]:
    """``n`` proposals of family ``strategy``; without one, the best of every family that has enough finished trials."""
    from weightsearch.search.surrogate import finished_trials, needed_trials, propose, searchable

    direction = spec.directions[0]
    if strategy is not None or not spec.space.strategy_names():
        return propose(trials, spec.space, direction, n, strategy=strategy)
    families = [family for family in spec.space.strategy_names() if searchable(spec.space, family)]
    if not families:
        raise UserError(f"sweep {spec.name!r}: the space samples no parameter of any strategy; nothing to propose")
    counts = {family: len(finished_trials(trials, spec.space, family)) for family in families}
    ready = [family for family in families if counts[family] >= needed_trials(spec.space, family)]
    if not ready:
        have = ", ".join(f"{family} {count}/{needed_trials(spec.space, family)}" for family, count in counts.items())
        raise UserError(
            f"the surrogate needs enough finished trials of one strategy; finished/needed: {have}; "
            f"run more trials first (weightsearch resume {spec.name} --num-samples K)"
        )
    proposals = [
        proposal for family in ready for proposal in propose(trials, spec.space, direction, n, strategy=family)
    ]
    proposals.sort(key=lambda proposal: proposal.mean, reverse=direction == "maximize")
    return proposals[:n]


def _as_json(proposal: Proposal) -> dict[str, Any]:
    return {
        "strategy": proposal.strategy,
        "predicted_mean": proposal.mean,
        "predicted_std": proposal.std,
        "weights": proposal.weights,
        "values": proposal.values,
        "optuna_params": proposal.params,
    }


def _print_table(spec: SweepSpec, proposals: list[Proposal]) -> None:
    console = Console(highlight=False)
    table = Table(title=f"proposals for {spec.name}: {spec.metrics[0]} ({spec.directions[0]}) predicted by a GP")
    for column in ("rank", "strategy", "predicted", "± std", "values"):
        table.add_column(column, justify="left" if column in ("strategy", "values") else "right")
    for rank, proposal in enumerate(proposals, start=1):
        values = "\n".join(
            f"{path.removeprefix('strategy_params.')}={value:.4g}" if isinstance(value, float) else f"{path}={value}"
            for path, value in proposal.values.items()
            if path != "strategy"
        )
        table.add_row(str(rank), str(proposal.strategy or "-"), f"{proposal.mean:.4g}", f"{proposal.std:.2g}", values)
    console.print(table)
