"""The end-of-sweep figures: numbers gathered from the Optuna study and MLflow's metric history, drawn by ``plots``."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import optuna
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from weightsearch.contracts import TRAIN_PREFIX, VAL_PREFIX, task_metric
from weightsearch.tracking import names, plots
from weightsearch.tracking.importances import readable_importances
from weightsearch.tracking.query import Objective, rank

logger = logging.getLogger(__name__)

# Metric-name prefixes: `val/loss/<task>` and `train/weight/<task>` without the task.
_VAL_LOSS = task_metric(VAL_PREFIX, "loss", "")
_WEIGHT = task_metric(TRAIN_PREFIX, "weight", "")
# Runs read per `search_runs` request; every page is read.
RUNS_PAGE_SIZE = 1000


def warm_up() -> None:
    """Pay the first-use costs of the figures now (optuna.importance imports scikit-learn, about 1.5 s;
    matplotlib loads its fonts on the first draw), so the sweep's end, which waits for the figures, does not."""
    import optuna.importance  # noqa: F401  (lazy in optuna; the import is the cost)

    plots.save(plots.message_figure("warm-up", "warm-up"), Path(os.devnull))


def render_sweep_plots(
    study: optuna.Study,
    *,
    tracking_uri: str,
    parent_run_id: str,
    objectives: Sequence[Objective],
    out_dir: Path,
    top_k: int,
) -> list[Path]:
    """Draw the five sweep figures into ``out_dir``; a figure that cannot be drawn is logged and skipped."""
    client = MlflowClient(tracking_uri)
    parent = client.get_run(parent_run_id)
    complete_runs = all_runs(
        client,
        parent.info.experiment_id,
        f"tags.`{names.PARENT_RUN_ID}` = {names.quote(parent_run_id)} and tags.`{names.TRIAL_STATE}` = 'COMPLETE'",
    )
    metric, direction = objectives[0]
    drawings = {
        "optimization_history.png": lambda: _history(study, metric, direction),
        "param_importances.png": lambda: _importances(study, metric, direction),
        "intermediate_values.png": lambda: _intermediate(study, metric),
        "pareto_front.png": lambda: _pareto(complete_runs),
        "weight_trajectories.png": lambda: _trajectories(client, rank(complete_runs, objectives)[:top_k]),
    }
    written = []
    for file_name, draw in drawings.items():
        try:
            written.append(plots.save(draw(), out_dir / file_name))
        except Exception as error:  # a figure is a convenience: never let it end the sweep's recording
            logger.warning("could not draw %s: %s", file_name, error)
    return written


def all_runs(client: MlflowClient, experiment_id: str, filter_string: str, page_size: int = RUNS_PAGE_SIZE) -> list[Run]:
    """Every run of ``experiment_id`` matching ``filter_string``, read a page at a time (no cap on their number)."""
    runs: list[Run] = []
    page_token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=filter_string, max_results=page_size, page_token=page_token
        )
        runs.extend(page)
        page_token = page.token
        if not page_token:
            return runs


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)


def _history(study: optuna.Study, metric: str, direction: str) -> plots.Figure:
    trials = _complete(study)
    if not trials:
        return plots.message_figure("Optimization history", "no COMPLETE trial yet")
    return plots.optimization_history([t.number for t in trials], [t.values[0] for t in trials], metric, direction)


def _importances(study: optuna.Study, metric: str, direction: str) -> plots.Figure:
    trials = _complete(study)
    title = "Parameter importances"
    sign = 1.0 if direction == "minimize" else -1.0
    try:
        importances = readable_importances(trials, [sign * trial.values[0] for trial in trials])
    except (ValueError, RuntimeError) as error:
        return plots.message_figure(title, f"not estimable: {error}")
    return plots.param_importances(importances, metric)


def _intermediate(study: optuna.Study, metric: str) -> plots.Figure:
    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if not trials:
        return plots.message_figure("Intermediate values", "no intermediate values (multi-objective or none reported)")
    curves = {t.number: (sorted(t.intermediate_values), [t.intermediate_values[s] for s in sorted(t.intermediate_values)])
              for t in trials}
    return plots.intermediate_values(curves, {t.number for t in trials if t.state == TrialState.PRUNED}, metric)


def _pareto(runs: Sequence) -> plots.Figure:
    tasks = sorted({key[len(_VAL_LOSS):] for run in runs for key in run.data.metrics if key.startswith(_VAL_LOSS)})
    usable = [run for run in runs if all(_VAL_LOSS + task in run.data.metrics for task in tasks)]
    if len(tasks) < 2 or not usable:
        return plots.message_figure("Pareto fronts", "needs COMPLETE trials reporting val/loss of two tasks or more")
    return plots.pareto_fronts({task: [run.data.metrics[_VAL_LOSS + task] for run in usable] for task in tasks})


def _trajectories(client: MlflowClient, best: Sequence) -> plots.Figure:
    trajectories = {}
    for trial in best:
        run = client.get_run(trial.run_id)
        curves = {}
        for key in sorted(k for k in run.data.metrics if k.startswith(_WEIGHT)):
            history = sorted(client.get_metric_history(trial.run_id, key), key=lambda m: m.step)
            curves[key[len(_WEIGHT):]] = ([m.step for m in history], [m.value for m in history])
        if curves:
            trajectories[trial.trial_number] = curves
    if not trajectories:
        return plots.message_figure("Weight trajectories", "no train/weight/<task> metrics in the best trials")
    return plots.weight_trajectories(trajectories)
