"""Record a confirmation in MLflow: one child run per configuration and seed (tagged with the
confirmation stage), and the report with its plot on the sweep's parent run."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from mlflow.entities import Metric, Param

from weightsearch.config import SweepSpec
from weightsearch.tracking import names, plots
from weightsearch.tracking.query import RecordedSweep, open_sweep, trial_runs


def record_confirmation(spec: SweepSpec, report: Mapping[str, Any]) -> None:
    """Log the runs MLflow does not hold yet (confirming twice logs nothing twice), then the report."""
    sweep = open_sweep(spec.name, tracking_uri=spec.tracking_uri, storage_path=spec.storage.path)
    recorded = _recorded_units(sweep)
    parent = sweep.parent.info.run_id
    for entry in report["configurations"]:
        for seed, value in zip(report["seeds"], entry["summary"]["values"]):
            unit = f"{report['fingerprint']}:{entry['key']}:{seed}"
            if unit in recorded:
                continue
            tags = {
                names.PARENT_RUN_ID: parent,
                names.KIND: names.KIND_CONFIRM,
                names.STAGE: "confirm",
                names.CONFIRM_UNIT: unit,
                names.SWEEP: spec.name,
                "mlflow.runName": f"confirm {entry['label']} seed {seed}",
            }
            run = sweep.client.create_run(sweep.experiment_id, tags=tags)
            params = names.as_params({**entry["trial"], "seed": seed, "confirm.configuration": entry["label"]})
            sweep.client.log_batch(
                run.info.run_id,
                metrics=[Metric(names.safe_name(report["metric"]), float(value), int(time.time() * 1000), 0)],
                params=[Param(key, value) for key, value in params.items()],
            )
            sweep.client.set_terminated(run.info.run_id)
    sweep.client.log_dict(parent, dict(report), names.CONFIRMATION_ARTIFACT)
    figure = plots.confirmation(report)
    sweep.client.log_figure(parent, figure, "confirmation/confirmation.png")
    plots.close(figure)
    sweep.client.set_tag(parent, names.CONFIRMATION, names.CONFIRMATION_ARTIFACT)
    if report["configurations"]:
        sweep.client.set_tag(parent, names.CONFIRMED_BEST, report["configurations"][0]["label"])
    agreement = report.get("rank_agreement")
    if agreement is not None:
        figures = {
            names.CONFIRM_RANK_RHO: agreement["rho"],
            names.CONFIRM_RANK_RHO_LOW: agreement["ci_low"],
            names.CONFIRM_RANK_RHO_HIGH: agreement["ci_high"],
            names.CONFIRM_SEARCH_BEST_CONFIRMED: float(agreement["search_best_is_confirmed_best"]),
        }
        timestamp = int(time.time() * 1000)
        sweep.client.log_batch(parent, metrics=[Metric(key, value, timestamp, 0) for key, value in figures.items()])


def _recorded_units(sweep: RecordedSweep) -> set[str]:
    return {run.data.tags.get(names.CONFIRM_UNIT, "") for run in trial_runs(sweep, kind=names.KIND_CONFIRM)}
