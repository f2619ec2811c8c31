"""The `weightsearch` command line: it parses arguments and delegates; user errors exit with code 2."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from weightsearch.errors import UserError

# command -> "module:function" taking the parsed Namespace and returning an exit code.
# Imported lazily so that `weightsearch --help` and `train` do not pay for Ray and MLflow.
_COMMANDS = {
    "train": "weightsearch.trial.command:train_command",
    "validate": "weightsearch.search.command:validate_command",
    "run": "weightsearch.search.command:run_command",
    "resume": "weightsearch.search.command:resume_command",
    "status": "weightsearch.search.command:status_command",
    "best": "weightsearch.tracking.command:best_command",
    "show": "weightsearch.tracking.command:show_command",
    "submit": "weightsearch.cluster.command:submit_command",
    "jobs": "weightsearch.cluster.command:jobs_command",
}


def _add_sweep_overrides(parser: argparse.ArgumentParser, *, ray_address: bool = True) -> None:
    parser.add_argument("--name", help="sweep name (default: the spec's name)")
    parser.add_argument("--num-samples", type=int, help="number of trials to finish")
    parser.add_argument("--max-concurrent", type=int, help="trials running at once")
    parser.add_argument("--storage-path", help="run directory root (default: ./ws-runs)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: SQLite in the run directory)")
    if ray_address:
        parser.add_argument("--ray-address", help="address of an existing Ray cluster (default: start a local one)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value by dotted path, e.g. --set trial.steps=300 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weightsearch", description="Search the loss weights of VLA pretraining with Ray Tune, Optuna and MLflow."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train one configuration (a trial config YAML)")
    train.add_argument("config", help="trial config YAML (as `weightsearch best --format yaml` emits)")
    train.add_argument("--out", help="directory for checkpoints and the final metrics (default: none kept)")
    train.add_argument("--steps", type=int, help="override the number of training steps")
    train.add_argument("--device", help='override the device ("cpu", "cuda", "cuda:1")')
    train.add_argument("--format", choices=["table", "json"], default="table", help="final metrics format")

    validate = sub.add_parser("validate", help="check a sweep spec and its search space, start nothing")
    validate.add_argument("spec", help="sweep spec YAML")
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    run = sub.add_parser("run", help="run a sweep")
    run.add_argument("spec", help="sweep spec YAML")
    _add_sweep_overrides(run)

    resume = sub.add_parser("resume", help="continue an interrupted sweep, or extend a finished one (--num-samples)")
    resume.add_argument("name", help="sweep name")
    resume.add_argument("--storage-path", help="run directory root (default: ./ws-runs)")
    resume.add_argument("--tracking-uri", help="MLflow tracking URI (default: the one the sweep ran with)")
    resume.add_argument("--ray-address", help="address of an existing Ray cluster (default: start a local one)")
    resume.add_argument("--num-samples", type=int, help="number of finished trials to reach (default: the sweep's)")

    status = sub.add_parser("status", help="trial counts and best trial of a sweep, from its Optuna study")
    status.add_argument("name", help="sweep name")
    status.add_argument("--storage-path", help="run directory root (default: ./ws-runs)")
    status.add_argument("--format", choices=["table", "json"], default="table")

    best = sub.add_parser("best", help="the best configurations of a sweep, read from MLflow")
    best.add_argument("name", help="sweep name (its MLflow experiment)")
    best.add_argument("--top", type=int, default=5, help="how many (default 5)")
    best.add_argument("--storage-path", help="run directory root, to find the default tracking URI")
    best.add_argument("--tracking-uri", help="MLflow tracking URI")
    best.add_argument("--filter", help="""MLflow filter, e.g. "params.strategy = 'gradnorm'\"""")
    best.add_argument("--format", choices=["table", "json", "yaml"], default="table")

    show = sub.add_parser("show", help="the sweep's parent run and a per-strategy summary, from MLflow")
    show.add_argument("name", help="sweep name")
    show.add_argument("--storage-path", help="run directory root, to find the default tracking URI")
    show.add_argument("--tracking-uri", help="MLflow tracking URI")

    address_help = "the head's Ray dashboard, e.g. http://HEAD:8265 (default: $RAY_ADDRESS)"
    submit = sub.add_parser("submit", help="submit a sweep to a Ray cluster as a Ray Job")
    submit.add_argument("spec", help="sweep spec YAML (shipped with its space file; validated here first)")
    submit.add_argument("--address", help=address_help)
    submit.add_argument("--wait", action="store_true", help="follow the job's log; exit 0 if it succeeds, else 1")
    _add_sweep_overrides(submit, ray_address=False)

    jobs = sub.add_parser("jobs", help="the Ray Jobs of a cluster: list (default), logs, stop")
    jobs.add_argument("--address", help=address_help)
    actions = jobs.add_subparsers(dest="jobs_action", metavar="ACTION")
    # SUPPRESS: an --address given before the action is not reset by the action's default.
    actions.add_parser("list", help="jobs with status, sweep, start time and entrypoint").add_argument(
        "--address", default=argparse.SUPPRESS, help=address_help
    )
    logs = actions.add_parser("logs", help="a job's log")
    logs.add_argument("job_id", help="the job id `submit` printed")
    logs.add_argument("--follow", action="store_true", help="keep printing until the job ends")
    logs.add_argument("--address", default=argparse.SUPPRESS, help=address_help)
    stop = actions.add_parser("stop", help="stop a running job")
    stop.add_argument("job_id", help="the job id `submit` printed")
    stop.add_argument("--address", default=argparse.SUPPRESS, help=address_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, function_name = _COMMANDS[args.command].split(":")
    command = getattr(importlib.import_module(module_name), function_name)
    try:
        return int(command(args) or 0)
    except UserError as error:
        print(f"weightsearch {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
