"""The sweep commands: `validate`, `run`, `resume`, `status` (their parsers and handlers).

`run` and `resume` stop gracefully: the first Ctrl-C (or SIGTERM) stops launching trials, stops the
running ones at their last checkpoint (left RUNNING in the study) and ends both stores cleanly, the
second stops at once; either way the exit code is 130 and `weightsearch resume` continues the sweep.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from weightsearch.contracts import DEFAULT_STORAGE_ROOT, ENV_VALIDATING, SWEEP_FLAGS, RunPaths
from weightsearch.errors import UserError
from weightsearch.redact import without_password

if TYPE_CHECKING:
    import optuna

    from weightsearch.config import SweepSpec
    from weightsearch.search.summary import StudySummary
    from weightsearch.search.tuner import SweepResult
    from weightsearch.tracking.recorder import MlflowSweepCallback

INTERRUPTED_EXIT_CODE = 130
_RESUME_FLAGS = ("--storage-path", "--tracking-uri", "--ray-address", "--num-samples")
_RESUME_HELP = {
    "--tracking-uri": "MLflow tracking URI (default: the one the sweep ran with)",
    "--num-samples": "number of finished trials to reach (default: the sweep's)",
}


def add_sweep_flags(
    parser: argparse.ArgumentParser,
    flags: Sequence[str] | None = None,
    *,
    overrides: bool = True,
    help_text: dict[str, str] | None = None,
) -> None:
    """The sweep flags (all, or those named in ``flags``) and ``--set KEY=VALUE``, as one table defines them."""
    for flag in SWEEP_FLAGS:
        if flags is None or flag.flag in flags:
            parser.add_argument(flag.flag, type=flag.type, help=(help_text or {}).get(flag.flag, flag.help))
    if overrides:
        parser.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a spec value by dotted path, e.g. --set trial.steps=300 (repeatable)",
        )


def add_parsers(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser("validate", help="check a sweep spec and its search space, start nothing")
    validate.add_argument("spec", help="sweep spec YAML, or the name of a shipped one (quickstart)")
    add_sweep_flags(validate, ())
    validate.set_defaults(handler=validate_command)

    run = commands.add_parser("run", help="run a sweep")
    run.add_argument("spec", help="sweep spec YAML, or the name of a shipped one (quickstart)")
    add_sweep_flags(run)
    run.set_defaults(handler=run_command)

    resume = commands.add_parser(
        "resume", help="continue an interrupted sweep, or extend a finished one (--num-samples)"
    )
    resume.add_argument("name", help="sweep name")
    add_sweep_flags(resume, _RESUME_FLAGS, overrides=False, help_text=_RESUME_HELP)
    resume.set_defaults(handler=resume_command)

    status = commands.add_parser("status", help="trial counts and best trial of a sweep, from its Optuna study")
    status.add_argument("name", help="sweep name")
    add_sweep_flags(status, ("--storage-path",), overrides=False)
    status.add_argument("--format", choices=["table", "json"], default="table")
    status.set_defaults(handler=status_command)


def validate_command(args: argparse.Namespace) -> int:
    """Load and check a spec and its space against the model, print a summary; creates nothing on disk."""
    from weightsearch.config import load_spec, overrides_from_args
    from weightsearch.search.checks import check_spec
    from weightsearch.search.optuna_factory import make_pruner, make_sampler

    spec = load_spec(args.spec, overrides_from_args(args))
    os.environ[ENV_VALIDATING] = "1"  # model factories write no cache: validate creates nothing
    try:
        check = check_spec(spec)
    finally:
        del os.environ[ENV_VALIDATING]
    make_sampler(spec)
    make_pruner(spec)
    print("\n".join([f"{args.spec}: valid", *_validated_spec_lines(spec, check.tasks)]))
    return 0


def _validated_spec_lines(spec: SweepSpec, tasks: tuple[str, ...]) -> list[str]:
    """What `validate` shows: the sweep's settings, then the space's parameters per strategy."""

    def listed(options: dict) -> str:
        return ", ".join(f"{key}={value}" for key, value in options.items())

    sampler = f"{spec.sampler.name} (" + listed({"seed": spec.sampler.seed, **spec.sampler.options}) + ")"
    if spec.sampler.name == "grid":
        sampler += f", {math.prod(len(values) for values in spec.space.grid_search_space().values())} grid points"
    pruner = spec.pruner.name + (f" ({listed(spec.pruner.options)})" if spec.pruner.options else "")
    if spec.pruner.calibrate is not None:
        pruner += f", acting only at calibrated steps ({listed(spec.pruner.calibrate.model_dump())})"
    budget, trial = spec.budget, spec.trial
    time_limit = f"at most {budget.time_budget_s:g} s" if budget.time_budget_s else "no time limit"
    return [
        f"  name       {spec.name} (run directory {spec.paths.dir})",
        f"  objective  {', '.join(f'{objective.metric} ({objective.mode})' for objective in spec.objective)}",
        f"  trial      {trial.model} {listed(trial.options)}: {trial.steps} steps, eval every {trial.eval_every}, "
        f"batch {trial.batch_size}; tasks {', '.join(tasks)}",
        f"  sampler    {sampler}",
        f"  pruner     {pruner}",
        f"  budget     {budget.num_samples} trials, {budget.max_concurrent} at once, {time_limit}; "
        f"each {spec.resources.cpu:g} CPU, {spec.resources.gpu:g} GPU",
        f"  stores     Optuna {without_password(spec.optuna_url)}; MLflow {without_password(spec.tracking_uri)} "
        f"(experiment {spec.experiment})",
        "  space",
        *(f"    {line}" for line in spec.space.describe()),
    ]


def run_command(args: argparse.Namespace) -> int:
    """Run the sweep a spec describes (with the command line's overrides), then print where it all lives."""
    from weightsearch.config import load_spec, overrides_from_args
    from weightsearch.search.tuner import run_sweep
    from weightsearch.tracking import check_tracking_uri
    from weightsearch.tracking.recorder import MlflowSweepCallback

    spec = load_spec(args.spec, overrides_from_args(args))
    check_tracking_uri(spec.tracking_uri)
    recorder = MlflowSweepCallback(spec)
    return _drive(spec, lambda: run_sweep(spec, callbacks=[recorder]), recorder)


def resume_command(args: argparse.Namespace) -> int:
    """Continue sweep ``args.name`` from its study (a larger ``--num-samples`` extends it), then print as `run` does."""
    from weightsearch.config import load_spec, overrides_from_args
    from weightsearch.search.resume import resume_sweep
    from weightsearch.tracking import check_tracking_uri
    from weightsearch.tracking.recorder import MlflowSweepCallback

    paths = RunPaths.of(args.name, args.storage_path)
    if not paths.spec_file.is_file():
        raise UserError(
            f"no sweep named {args.name!r} under {paths.root}; check the name or pass the --storage-path it ran with"
        )
    spec = load_spec(paths.spec_file, overrides_from_args(args))
    check_tracking_uri(spec.tracking_uri)
    recorder = MlflowSweepCallback(spec)
    return _drive(spec, lambda: resume_sweep(spec, callbacks=[recorder]), recorder)


def _drive(spec: SweepSpec, sweep: Callable[[], SweepResult], recorder: MlflowSweepCallback) -> int:
    """Run ``sweep`` with SIGTERM acting as Ctrl-C, then the spec's confirmation when the search is complete;
    print the outcome, or how to resume after a hard stop.

    ``recorder`` reconciles MLflow with the study when Ray runs; a resume that ran nothing (every trial
    finished, or the time budget spent) is reconciled here.
    """
    from weightsearch.search.interrupt import stop_requested

    quiet_library_logs()
    try:
        with _graceful_interrupts(spec):
            result = sweep()
            if recorder.writer is None:
                from weightsearch.tracking.reconcile import reconcile_sweep

                reconcile_sweep(spec)
            complete = _print_result(spec, result, recorder.ui_url)
            if spec.confirm is not None and complete and not stop_requested():
                from weightsearch.cli.confirm import confirm_sweep, report_lines

                print(without_password("\n".join(report_lines(confirm_sweep(spec).to_json()))))
    except KeyboardInterrupt:
        # The second signal: Ray is shut down and the lease released on the way out; the stores are
        # reconciled when the sweep is resumed.
        print(f"sweep {spec.name} stopped at once; continue it with `{_resume_hint(spec)}`", flush=True)
        return INTERRUPTED_EXIT_CODE
    if stop_requested():
        print(f"sweep {spec.name} stopped; continue it with `{_resume_hint(spec)}`", flush=True)
        return INTERRUPTED_EXIT_CODE
    return 0


def quiet_library_logs() -> None:
    """Keep Optuna's and MLflow's INFO lines (each tell, each study created, database set-up) out of the
    sweep's progress table; their warnings still show."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)


@contextmanager
def _graceful_interrupts(spec: SweepSpec) -> Iterator[None]:
    """The first SIGINT or SIGTERM stops the sweep gracefully (no new trial; the running ones stop now, resumable
    from their last checkpoint; both stores closed), the second at once (KeyboardInterrupt).

    Ray Tune's own SIGINT handler is turned off (TUNE_DISABLE_SIGINT_HANDLER, read when a Tuner runs): it
    would end the sweep on the first signal and advise ``Tuner.restore``, which a sweep must never use.
    """
    from weightsearch.search.interrupt import request_stop, stop_requested

    def interrupt(signum: int, frame: object) -> None:
        if stop_requested():
            raise KeyboardInterrupt
        request_stop()
        # os.write, not print: a handler that prints while the interrupted code prints raises.
        os.write(
            2,
            f"\n{signal.Signals(signum).name}: sweep {spec.name} stops launching trials; the running ones stop now "
            f"and continue from their last checkpoint with `{_resume_hint(spec)}`. Again to stop at once.\n".encode(),
        )

    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _resume_hint(spec: SweepSpec) -> str:
    root = "" if spec.storage.path == DEFAULT_STORAGE_ROOT else f" --storage-path {spec.storage.path}"
    return f"weightsearch resume {spec.name}{root}"


def _print_result(spec: SweepSpec, result: SweepResult, ui_url: str | None) -> bool:
    """Print where the sweep lives and what its study holds; True when every trial of the budget finished.

    ``ui_url``: the sweep's trials in MLflow's UI (None when the sweep's end did not reach MLflow)."""
    from weightsearch.search.summary import summary_lines

    minutes, seconds = divmod(int(result.elapsed_s), 60)
    root = "" if spec.storage.path == DEFAULT_STORAGE_ROOT else f" --storage-path {spec.storage.path}"
    lines = [
        f"sweep {result.name} ended after {minutes}m{seconds:02d}s",
        *summary_lines(result.summary),
        f"study    {result.storage}",
        f"mlflow   {result.tracking_uri}",
        f"run dir  {result.run_dir}",
        f"view     optuna-dashboard {result.storage}",
        f"         weightsearch best {result.name}{root}",
        f"         weightsearch status {result.name}{root}",
    ]
    if ui_url:
        local = not result.tracking_uri.startswith(("http://", "https://"))
        lines += [f"         mlflow ui --backend-store-uri {result.tracking_uri}"] * local + [f"         {ui_url}"]
    finished = sum(count for state, count in result.summary.counts.items() if state in ("COMPLETE", "PRUNED", "FAIL"))
    complete = not result.summary.counts.get("RUNNING") and finished >= spec.budget.num_samples
    if not complete:
        lines.append(
            f"interrupted: {finished} of {spec.budget.num_samples} trials finished, "
            f"{result.summary.counts.get('RUNNING', 0)} still RUNNING; continue with `{_resume_hint(spec)}`"
        )
    print(without_password("\n".join(lines)), flush=True)
    return complete


def status_command(args: argparse.Namespace) -> int:
    """Trial counts and the best trial of a sweep, read from its Optuna study (table or JSON)."""
    from weightsearch.search.summary import summary_lines

    summary = sweep_status(args.name, args.storage_path)
    if args.format == "json":
        print(without_password(json.dumps(summary.to_json(), indent=2)))
    else:
        lines = [f"sweep    {summary.study}", f"study    {summary.storage}", *summary_lines(summary)]
        print(without_password("\n".join(lines)))
    return 0


def sweep_status(name: str, storage_path: str | None) -> StudySummary:
    """The summary of sweep ``name`` under ``storage_path``; UserError when there is no such sweep.

    A study in SQLite is read with the standard library (:mod:`weightsearch.search.sqlite_study`), which
    keeps `status` fast; any other, or one that reader cannot vouch for, through Optuna.
    """
    from weightsearch.search.sqlite_study import read_sqlite_study
    from weightsearch.search.summary import snapshot, summarize

    spec, url = sweep_spec(name, storage_path)
    stored = read_sqlite_study(url, spec.name) or snapshot(load_study(spec, url))
    return summarize(stored, url, spec.metrics, calibrated=spec.pruner.calibrate is not None)


def open_sweep(name: str, storage_path: str | None) -> tuple[SweepSpec, optuna.Study, str]:
    """Sweep ``name``'s spec, its Optuna study and the study's storage URL; UserError when there is no such sweep."""
    spec, url = sweep_spec(name, storage_path)
    return spec, load_study(spec, url), url


def sweep_spec(name: str, storage_path: str | None) -> tuple[SweepSpec, str]:
    """Sweep ``name``'s spec and its study's storage URL; UserError when there is no such sweep."""
    from weightsearch.config import load_spec

    paths = RunPaths.of(name, storage_path)
    if not paths.spec_file.is_file():
        raise UserError(
            f"no sweep named {name!r} under {paths.root}; check the name, pass the --storage-path it ran with, "
            "or start it with `weightsearch run`"
        )
    spec = load_spec(paths.spec_file)
    # The default study lives next to the spec file, wherever the run directory is now.
    return spec, spec.storage.optuna_url or paths.optuna_url


def load_study(spec: SweepSpec, url: str) -> optuna.Study:
    """The Optuna study of ``spec`` at ``url``; UserError when the sweep stopped before creating it."""
    import optuna

    try:
        return optuna.load_study(study_name=spec.name, storage=url)
    except KeyError:
        raise UserError(f"sweep {spec.name!r}: its study is not in {url}; the sweep stopped before creating it") from None
