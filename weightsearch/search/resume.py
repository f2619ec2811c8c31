"""Continue an interrupted (or extend a finished) sweep: the Optuna study is the one source of truth.

Design. Ray's ``Tuner.restore`` trusts Ray's experiment snapshot, which is written at other moments
than the study: after a ``kill -9`` the two disagree (a trial Ray saved as RUNNING was already told
COMPLETE, or the study holds a trial Ray never saw), and restored trials get new ids. So a resume
never restores Ray's state. It opens the study and builds a fresh Tuner over it (same experiment
folder, same searcher, scheduler and callbacks as `run`):

- finished trials (COMPLETE, PRUNED, FAIL) stay as they are and are never run again, whatever Ray
  last saved about them;
- every trial the study still has RUNNING (running, about to start, or finished in Ray but never
  told) is handed out first by the searcher under its own number: the new Ray trial adopts the
  Optuna trial (same parameters, its intermediate values stay, so the pruner sees them) and
  continues from the newest readable checkpoint in its ``trial_<number>*`` folders, else from
  scratch; the trial user attribute ``resumed_from`` lists where each resume started it;
- then new trials are asked until the study holds ``budget.num_samples`` finished trials (a larger
  ``--num-samples`` extends a finished sweep; the sampler sees all earlier trials);
- the MLflow recorder finds the sweep's parent run and each trial's child run by their tags, so the
  resumed trials continue their runs; it first reconciles them with the study (a run left RUNNING by a
  driver killed after the study heard the trial's end is closed as the study says).

A resume holds the sweep's driver lease (:mod:`~weightsearch.search.lease`) from the moment it opens
the study, before it writes anything: a second driver on the sweep stops at once. The time budget
goes on from the time the runs before spent (:mod:`~weightsearch.search.budget`); once it is spent, a
resume closes the trials left RUNNING as PRUNED and runs nothing.

The sampler's seed is shifted by the number of trials so far: the same seed would replay the random
start-up draws of the first run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import optuna
from optuna.trial import TrialState
from ray import tune

from weightsearch.config import SweepSpec, spec_to_yaml
from weightsearch.contracts import RESULT_STEP
from weightsearch.errors import UserError
from weightsearch.search.bridge import OptunaBridge
from weightsearch.search.budget import close_when_spent
from weightsearch.search.lease import driver_lease
from weightsearch.search.optuna_factory import make_pruner, make_sampler
from weightsearch.search.trainable import with_resources
from weightsearch.search.tuner import (
    SweepResult,
    build_tuner,
    check_ray_address,
    study_storage,
    sweep_cluster,
    sweep_result,
)
from weightsearch.trial.checkpoint import STATE_FILE, load_checkpoint


def resume_sweep(spec: SweepSpec, *, callbacks: Sequence[tune.Callback] = ()) -> SweepResult:
    """Run sweep ``spec`` (read back from its run directory) until its study holds ``num_samples`` finished trials."""
    paths = spec.paths
    # Before the study, the lease or spec.yaml are touched: a wrong address leaves the sweep as it was.
    check_ray_address(spec)
    try:
        study = optuna.load_study(
            study_name=spec.name,
            storage=study_storage(spec.optuna_url),
            sampler=optuna.samplers.RandomSampler(),
            pruner=make_pruner(spec),
        )
    except KeyError:
        raise UserError(
            f"sweep {spec.name!r}: its study is not in {spec.optuna_url}; the sweep stopped before creating it, "
            f"remove {paths.dir} and start it again with `weightsearch run`"
        ) from None
    with driver_lease(spec.optuna_url, spec.name):
        started = time.monotonic()
        _continue(spec, study, callbacks)
    return sweep_result(spec, study, time.monotonic() - started)


def _continue(spec: SweepSpec, study: optuna.Study, callbacks: Sequence[tune.Callback]) -> None:
    """The body of a resume, run while holding the sweep's lease."""
    paths = spec.paths
    trials = study.get_trials(deepcopy=False)
    study.sampler = make_sampler(_reseeded(spec, len(trials)))
    finished = sum(trial.state.is_finished() for trial in trials)
    unfinished = [trial.number for trial in trials if trial.state == TrialState.RUNNING]
    to_run = max(spec.budget.num_samples - finished, len(unfinished))
    # The new budget (a larger --num-samples) is what `status` and the next resume read.
    paths.spec_file.write_text(spec_to_yaml(spec))
    if not to_run or close_when_spent(OptunaBridge(study, spec.metrics), spec.budget.time_budget_s):
        return
    experiment_dir = paths.ray_dir / spec.name
    resumed = {number: last_checkpoint(experiment_dir, number) for number in unfinished}
    with sweep_cluster(spec):
        bridge = OptunaBridge(study, spec.metrics)
        for number, checkpoint in resumed.items():
            last = load_checkpoint(checkpoint)["metrics"] if checkpoint is not None else {}
            if spec.metrics[0] in last:
                bridge.backfill(number, last[spec.metrics[0]], int(last[RESULT_STEP]))
        trainable = with_resources(spec.resources.cpu, spec.resources.gpu)
        build_tuner(spec, bridge, trainable, callbacks, num_samples=to_run, resumed=resumed).fit()


def last_checkpoint(experiment_dir: Path, number: int) -> Path | None:
    """The newest trainer checkpoint of trial ``number`` that loads, in any Ray run of the sweep; None if none.

    Each run (the first, each resume) gives the trial its own folder ``trial_<number>[_<suffix>]``;
    a driver killed while Ray copied a checkpoint can leave a truncated one, hence the load.
    """
    states = sorted(
        experiment_dir.glob(f"trial_{number:05d}*/checkpoint_*/{STATE_FILE}"),
        key=lambda state: state.stat().st_mtime,
        reverse=True,
    )
    for state in states:
        try:
            load_checkpoint(state.parent)
        except Exception:  # noqa: BLE001 - any unreadable file means: try the previous checkpoint
            continue
        return state.parent
    return None


def _reseeded(spec: SweepSpec, trials_so_far: int) -> SweepSpec:
    """``spec`` with the sampler seed moved on by ``trials_so_far``, so that new trials draw new values."""
    if spec.sampler.seed is None:
        return spec
    sampler = spec.sampler.model_copy(update={"seed": spec.sampler.seed + trials_so_far})
    return spec.model_copy(update={"sampler": sampler})
