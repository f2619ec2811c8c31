"""The `confirm` command: re-train a sweep's best configurations and its baselines on fresh paired
seeds, and say how sure the ranking is (parser, handler, and the table it prints)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from weightsearch.contracts import RunPaths
from weightsearch.errors import UserError
from weightsearch.redact import without_password

if TYPE_CHECKING:
    from weightsearch.config import SweepSpec
    from weightsearch.search.confirm import ConfirmationReport


def add_parsers(commands: argparse._SubParsersAction) -> None:
    confirm = commands.add_parser(
        "confirm", help="re-train the best configurations and the baselines on fresh paired seeds, with intervals"
    )
    confirm.add_argument("name", help="sweep name")
    confirm.add_argument("--top", type=int, help="how many of the best trials (default: the spec's confirm.top, or 3)")
    confirm.add_argument("--seeds", type=int, help="paired seeds per configuration (default: confirm.seeds, or 8)")
    confirm.add_argument(
        "--baseline", action="append", help="a baseline to compare with (repeatable; default: the spec's, else equal "
        "and the model's own such as aux_off)"
    )
    confirm.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="trial.KEY=VALUE",
        help="confirm at another scale, e.g. --set trial.steps=1600 --set trial.options.size=small (repeatable)",
    )
    confirm.add_argument("--storage-path", help="run directory root (default: ./ws-runs)")
    confirm.add_argument("--tracking-uri", help="MLflow tracking URI (default: the one the sweep ran with)")
    confirm.add_argument("--ray-address", help="address of an existing Ray cluster (default: start a local one)")
    confirm.add_argument("--format", choices=["table", "json"], default="table")
    confirm.set_defaults(handler=confirm_command)


def confirm_command(args: argparse.Namespace) -> int:
    """Plan (every input checked before anything runs), train what is missing, record in MLflow, print."""
    from weightsearch.cli.sweep import quiet_library_logs
    from weightsearch.config import load_spec

    paths = RunPaths.of(args.name, args.storage_path)
    if not paths.spec_file.is_file():
        raise UserError(
            f"no sweep named {args.name!r} under {paths.root}; check the name or pass the --storage-path it ran with"
        )
    overrides = [f"tracking.uri={json.dumps(args.tracking_uri)}"] if args.tracking_uri else []
    overrides += [f"ray.address={json.dumps(args.ray_address)}"] if args.ray_address else []
    spec = load_spec(paths.spec_file, overrides)
    quiet_library_logs()
    report = confirm_sweep(spec, top=args.top, seeds=args.seeds, baselines=args.baseline, changes=args.overrides)
    if args.format == "json":
        print(without_password(json.dumps(report.to_json(), indent=2)))
    else:
        print("\n".join(report_lines(report.to_json())))
    return 0


def confirm_sweep(
    spec: SweepSpec,
    *,
    top: int | None = None,
    seeds: int | None = None,
    baselines: list[str] | None = None,
    changes: list[str] | None = None,
) -> ConfirmationReport:
    """Confirm sweep ``spec`` (defaults from its ``confirm:`` section) and record the result in MLflow."""
    import optuna

    from weightsearch.search.checks import check_spec
    from weightsearch.search.confirm import run_confirmation
    from weightsearch.search.confirm_plan import plan_confirmation
    from weightsearch.search.lease import driver_lease
    from weightsearch.search.tuner import study_storage
    from weightsearch.tracking import check_tracking_uri
    from weightsearch.tracking.confirmation import record_confirmation

    section = spec.confirm
    top = top if top is not None else (section.top if section else 3)
    seeds = seeds if seeds is not None else (section.seeds if section else 8)
    # The spec's target scale, then the command line's --set (a key set twice takes the command line's value).
    changes = [*(section.scale_settings() if section else []), *(changes or [])]
    try:
        study = optuna.load_study(study_name=spec.name, storage=study_storage(spec.optuna_url))
    except KeyError:
        raise UserError(f"sweep {spec.name!r}: its study is not in {spec.optuna_url}; nothing to confirm") from None
    check = check_spec(spec)
    plan = plan_confirmation(
        spec, study, top=top, seeds=seeds, baselines=baselines, changes=changes, tasks=check.tasks,
        model_baselines=check.baselines,
    )
    check_tracking_uri(spec.tracking_uri)
    with driver_lease(spec.optuna_url, spec.name):  # one driver a sweep: a second confirm exits 2
        report = run_confirmation(spec, study, plan)
    record_confirmation(spec, report.to_json())
    return report


def report_lines(report: dict[str, Any]) -> list[str]:
    """The confirmation as a table: rank, mean and interval, median, and the paired comparison with the default baseline."""
    seeds = report["seeds"]
    scale = ", ".join(f"trial.{key}={value}" for key, value in report["scale"].items())
    default = report["default_baseline"]
    lines = [
        f"confirmation of {report['sweep']}: {report['metric']} ({report['direction']}) on {len(seeds)} paired seeds "
        f"{seeds[0]}–{seeds[-1]}" + (f", at another scale than the search: {scale}" if scale else ""),
        f"{'rank':>4}  {'configuration':<20} {'mean':>10}  {'95% CI':<23} {'median':>10}  "
        f"{'vs ' + default + ': Δ mean [95% CI]':<36} {'p (t / Wilcoxon)':<18} wins",
    ]
    for rank, entry in enumerate(report["configurations"], start=1):
        summary = entry["summary"]
        versus = entry["versus"].get(default)
        comparison = (
            f"{versus['mean_difference']:+.4g} [{versus['ci_low']:+.4g}, {versus['ci_high']:+.4g}]" if versus else "-"
        )
        tests = f"{versus['p_t']:.3g} / {versus['p_wilcoxon']:.3g}" if versus else "-"
        wins = f"{versus['wins']}/{versus['seeds']}" if versus else "-"
        label = entry["label"] + (" (baseline)" if entry["kind"] == "baseline" else "")
        lines.append(
            f"{rank:>4}  {label:<20} {summary['mean']:>10.4g}  [{summary['ci_low']:.4g}, {summary['ci_high']:.4g}]"
            f"{'':<4} {summary['median']:>10.4g}  {comparison:<36} {tests:<18} {wins}"
        )
    lines.append("per seed:")
    for entry in report["configurations"]:
        search = f" (search: {entry['search_value']:.4g})" if entry["search_value"] is not None else ""
        lines.append(f"  {entry['label']:<20} " + " ".join(f"{value:.4g}" for value in entry["summary"]["values"]) + search)
    for label, why in report["incomplete"].items():
        lines.append(f"not confirmed: {label}: {why}")
    agreement = report.get("rank_agreement")
    if agreement is not None:
        verdict = (
            f"the search's best ({agreement['search_best']}) is the confirmed best"
            if agreement["search_best_is_confirmed_best"]
            else f"the search's best ({agreement['search_best']}) is not the confirmed best ({agreement['confirmed_best']})"
        )
        lines.append(
            f"rank agreement, search vs confirmed ({agreement['configurations']} searched configurations): "
            f"Spearman ρ = {agreement['rho']:.2f} [95% bootstrap CI over seeds {agreement['ci_low']:.2f}, "
            f"{agreement['ci_high']:.2f}]; {verdict}"
        )
    return lines
