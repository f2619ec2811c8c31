"""How a sweep's costs grow with its study: a suggestion at 100, 1,000 and 10,000 finished trials, `best` and `status`.

**Suggestion.** The sweep spec is the quickstart with the full search space
(``search_spaces/full.yaml``: eight strategies, each with its own conditional arguments, plus
normalizer, LR and data mix), so its sampler is the spec's TPE (``make_sampler``). One list of
finished trials is made once: each trial's parameters are what :meth:`SearchSpace.sample` draws
(Optuna names and distributions exactly as a sweep stores them, drawn by a random sampler), about
half of them PRUNED after two or three evaluations, a few FAIL, the rest COMPLETE with an
evaluation every 50 steps up to 300, each with its sampled values as the
``params`` user attribute, as the searcher sets it. The study of size N, the first N trials, is
written into SQLite with the product's storage (:func:`~weightsearch.search.tuner.study_storage`,
WAL). Each round copies every study afresh and, in a rotated order of N so that drift on a shared
machine hits every size alike, opens it as a sweep does (``load_study`` with the spec's sampler and
pruner, an :class:`OptunaBridge`, an :class:`OptunaSearcher`) and times ``searcher.suggest`` (bridge
ask, space sample, resolve into a TrialConfig, user attribute) and ``searcher.on_trial_complete``
(tell) for one suggestion right after opening (Optuna's trial cache still empty: what a resume
pays) and then ``steady`` more; the sampler's seed is the round's.

**best and show.** The same trials, recorded in MLflow (SQLite, the run directory's default store) as the
recorder records a sweep: the parent run and the first trials through the product's
:class:`~weightsearch.tracking.writer.MlflowWriter`; the rest copied from those rows in bulk (the
writer sends one run at a time, ~0.1 s a run on SQLite), with their own params, tags and metrics
at every evaluation. Timed: ``weightsearch best <name> --storage-path <root>`` as a subprocess
(wall time, Python start included); side by side, the same answer read through MLflow's client; its
floor, a process that only imports what it imports; in process, ``open_sweep`` + ``best_trials``;
once, ranking every COMPLETE run; and `best` and `show` of a 10-trial sweep (its own run directory).

    python -m benchmarks.study_scaling [--quick] [--out DIR]
"""

from __future__ import annotations

import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402
from benchmarks.common import SuiteReport, Target  # noqa: E402

QUICKSTART = common.REPO_ROOT / "search_spaces" / "quickstart.yaml"
NAME = "study-scaling"
FULL = {"sizes": [100, 1_000, 10_000], "rounds": 3, "steady": 5, "mlflow_runs": 10_000, "cli_repetitions": 3}
QUICK = {"sizes": [100, 1_000], "rounds": 2, "steady": 5, "mlflow_runs": 300, "cli_repetitions": 3}
SEED = 0
EVAL_STEPS = (50, 100, 150, 200, 250, 300)  # the quickstart's eval_every and steps
FAIL_SHARE, PRUNED_SHARE = 0.05, 0.5
WRITER_TRIALS = 3  # trials recorded through the product's writer; the rest are copies of their rows
TARGET_RATIO = 3.0
TARGET_BEST_S = 2.0
TARGET_STATUS_S = 1.0  # `status` of a STATUS_SMALL-trial sweep
STATUS_SMALL = 10
_RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}  # as the writer ends runs


@dataclass(frozen=True)
class FinishedTrial:
    """One finished trial of the synthetic sweep: what the study and MLflow hold of it."""

    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    sampled: dict[str, Any]  # TrialConfig path -> value, as the searcher hands it to Ray
    optuna_params: dict[str, Any]
    distributions: dict[str, Any]
    curve: dict[int, float]  # the objective at each evaluation step


def run(*, quick: bool, out_dir: Path) -> SuiteReport:
    """Fill studies and an MLflow store, time suggestions and `best`, and report against the targets."""
    started = time.perf_counter()
    settings = {**(QUICK if quick else FULL), "seed": SEED, "space": "search_spaces/full.yaml",
                "sampler": "tpe (quickstart: n_startup_trials 4)", "eval_steps": list(EVAL_STEPS),
                "shares": {"FAIL": FAIL_SHARE, "PRUNED": PRUNED_SHARE}}
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="study-scaling-") as scratch:
        root = Path(scratch)
        spec = _spec(root, seed=SEED)
        count = max(max(settings["sizes"]), settings["mlflow_runs"])
        _progress(f"drawing {count} finished trials from the full space")
        trials = finished_trials(spec, count, random.Random(SEED))
        suggestion = suggestion_costs(root, trials, settings)
        best = best_latency(root, spec, trials[: settings["mlflow_runs"]], settings["cli_repetitions"])
        status = status_latency(root, spec, trials, [STATUS_SMALL, max(settings["sizes"])], settings["cli_repetitions"])
    results = {"suggestion": suggestion, "best": best, "status": status}
    plot = _plot(suggestion, out_dir)
    targets = _targets(suggestion, best, status, quick)
    return SuiteReport(
        name="study_scaling",
        title="Study scaling: suggestion cost, `best` and `status` latency vs finished trials",
        quick=quick,
        settings=settings,
        results=results,
        markdown=_markdown(settings, suggestion, best, status),
        targets=targets,
        plots=[str(plot)],
        wall_s=time.perf_counter() - started,
    )


# --- the synthetic sweep ------------------------------------------------------------------------


def _spec(root: Path, *, seed: int, name: str = NAME) -> Any:
    from weightsearch.config import load_spec

    overrides = ["space=full.yaml", f"name={name}", f"storage.path={root}", f"sampler.seed={seed}"]
    return load_spec(QUICKSTART, overrides)


def finished_trials(spec: Any, count: int, rng: random.Random) -> list[FinishedTrial]:
    """``count`` trials whose parameters the spec's space samples (randomly), with objective curves."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    draws = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=rng.randrange(2**31)))
    trials = []
    for number in range(count):
        trial = draws.ask()
        sampled = spec.space.sample(trial)
        roll = rng.random()
        state = "FAIL" if roll < FAIL_SHARE else "PRUNED" if roll < FAIL_SHARE + PRUNED_SHARE else "COMPLETE"
        # A loss that falls towards the configuration's level; pruned trials were the worse ones.
        level = rng.lognormvariate(-2.0 if state == "COMPLETE" else -1.5, 0.5)
        steps = {"FAIL": EVAL_STEPS[:1], "PRUNED": EVAL_STEPS[: rng.choice((2, 3))], "COMPLETE": EVAL_STEPS}[state]
        curve = {step: level * (1.0 + 2.0 * math.exp(-step / 100.0)) for step in steps}
        trials.append(FinishedTrial(number, state, sampled, trial.params, trial.distributions, curve))
    return trials


def _frozen(trial: FinishedTrial) -> Any:
    """The trial as Optuna stores it after a sweep (the searcher's ``params`` user attribute included)."""
    import optuna
    from optuna.trial import TrialState

    from weightsearch.contracts import ATTR_PARAMS as PARAMS_ATTR

    state = TrialState[trial.state]
    user_attrs: dict[str, Any] = {PARAMS_ATTR: trial.sampled}
    if state == TrialState.FAIL:
        user_attrs = {**user_attrs, "fail_reason": "the trial raised an error"}
    frozen = optuna.trial.create_trial(
        state=state,
        value=trial.curve[EVAL_STEPS[-1]] if state == TrialState.COMPLETE else None,
        params=trial.optuna_params,
        distributions=trial.distributions,
        intermediate_values={} if state == TrialState.FAIL else trial.curve,
        user_attrs=user_attrs,
    )
    frozen.number = trial.number
    return frozen


def fill_study(url: str, spec: Any, trials: list[FinishedTrial]) -> None:
    """Create the sweep's study at ``url`` (the product's SQLite storage) holding ``trials``."""
    import optuna

    from weightsearch.search.tuner import study_storage

    storage = study_storage(url)
    study = optuna.create_study(storage=storage, study_name=spec.name, directions=spec.directions)
    _insert_trials(storage, study._study_id, [_frozen(trial) for trial in trials])  # noqa: SLF001
    storage.engine.dispose()  # closes the last connection: SQLite folds the WAL into the file


def _insert_trials(storage: Any, study_id: int, trials: list[Any]) -> None:
    """Write finished trials in one transaction, with the rows Optuna's RDB storage writes for each.

    ``study.add_trials`` commits each trial on its own and checks every parameter against the
    study's earlier ones: minutes for 10,000 trials. This writes the same tables (Optuna's own
    SQLAlchemy models, a private module: hence this one function) in a few seconds.
    """
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from sqlalchemy import insert

    session = storage.scoped_session()
    try:
        rows = [
            models.TrialModel(study_id=study_id, number=trial.number, state=trial.state,
                              datetime_start=trial.datetime_start, datetime_complete=trial.datetime_complete)
            for trial in trials
        ]
        session.add_all(rows)
        session.flush()  # assigns the trial ids
        values, params, attributes, intermediate = [], [], [], []
        for row, trial in zip(rows, trials):
            if trial.value is not None:
                value, value_type = models.TrialValueModel.value_to_stored_repr(trial.value)
                values.append({"trial_id": row.trial_id, "objective": 0, "value": value, "value_type": value_type})
            for name, value in trial.params.items():
                distribution = trial.distributions[name]
                params.append({"trial_id": row.trial_id, "param_name": name,
                               "param_value": distribution.to_internal_repr(value),
                               "distribution_json": distribution_to_json(distribution)})
            for key, value in trial.user_attrs.items():
                attributes.append({"trial_id": row.trial_id, "key": key, "value_json": json.dumps(value)})
            for step, value in trial.intermediate_values.items():
                stored, stored_type = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
                intermediate.append({"trial_id": row.trial_id, "step": step, "intermediate_value": stored,
                                     "intermediate_value_type": stored_type})
        for model, batch in ((models.TrialValueModel, values), (models.TrialParamModel, params),
                             (models.TrialUserAttributeModel, attributes),
                             (models.TrialIntermediateValueModel, intermediate)):
            if batch:
                session.execute(insert(model), batch)
        session.commit()
    finally:
        session.close()


# --- suggestion cost ----------------------------------------------------------------------------


def suggestion_costs(root: Path, trials: list[FinishedTrial], settings: dict[str, Any]) -> dict[str, Any]:
    """Per study size: seconds of the first suggestion after opening, of the steady ones, and of their tells."""
    sizes, rounds, steady = settings["sizes"], settings["rounds"], settings["steady"]
    pristine = {}
    for size in sizes:
        started = time.perf_counter()
        pristine[size] = root / "studies" / str(size) / "optuna.db"
        pristine[size].parent.mkdir(parents=True)
        fill_study(f"sqlite:///{pristine[size]}", _spec(root, seed=SEED), trials[:size])
        _progress(f"study of {size} finished trials written in {time.perf_counter() - started:.1f} s")
    per_size: dict[int, dict[str, list[float]]] = {
        size: {"open_s": [], "first_suggest_s": [], "first_tell_s": [], "suggest_s": [], "tell_s": []}
        for size in sizes
    }
    for round_index in range(rounds):
        order = sizes[round_index % len(sizes):] + sizes[: round_index % len(sizes)]
        for size in order:
            working = root / "work" / f"{round_index}-{size}" / "optuna.db"
            working.parent.mkdir(parents=True)
            shutil.copyfile(pristine[size], working)
            timings = time_suggestions(f"sqlite:///{working}", _spec(root, seed=round_index), steady)
            for key, values in timings.items():
                per_size[size][key] += values
            _progress(
                f"round {round_index + 1}/{rounds}, {size} trials: first suggestion "
                f"{timings['first_suggest_s'][0]:.3f} s, steady median "
                f"{common.spread(timings['suggest_s'])['median']:.3f} s"
            )
    summaries = {
        str(size): {
            "raw": data,
            **{key: common.spread(values) for key, values in data.items()},
            "suggest_and_tell_s": common.spread([a + b for a, b in zip(data["suggest_s"], data["tell_s"])]),
        }
        for size, data in per_size.items()
    }
    return {"sizes": sizes, "per_size": summaries}


def time_suggestions(url: str, spec: Any, steady: int) -> dict[str, list[float]]:
    """Open the study at ``url`` as a sweep does; time its first suggestion, then ``steady`` more, each told."""
    import optuna

    from weightsearch.search.bridge import OptunaBridge
    from weightsearch.search.optuna_factory import make_pruner, make_sampler
    from weightsearch.search.searcher import OptunaSearcher
    from weightsearch.search.tuner import study_storage

    rng = random.Random(spec.sampler.seed)
    started = time.perf_counter()
    study = optuna.load_study(study_name=spec.name, storage=study_storage(url),
                              sampler=make_sampler(spec), pruner=make_pruner(spec))
    searcher = OptunaSearcher(OptunaBridge(study, spec.metrics), spec.space, spec.trial)
    timings: dict[str, list[float]] = {"open_s": [time.perf_counter() - started], "first_suggest_s": [],
                                       "first_tell_s": [], "suggest_s": [], "tell_s": []}
    for index in range(steady + 1):
        trial_id = f"scaling_{index:05d}"
        started = time.perf_counter()
        searcher.suggest(trial_id)
        suggested = time.perf_counter()
        searcher.on_trial_complete(trial_id, {spec.metrics[0]: rng.lognormvariate(-2.0, 0.5)})
        told = time.perf_counter()
        prefix = "first_" if index == 0 else ""
        timings[f"{prefix}suggest_s"].append(suggested - started)
        timings[f"{prefix}tell_s"].append(told - suggested)
    study._storage._backend.engine.dispose()  # noqa: SLF001 (the cached storage's RDB engine: close the file)
    return timings


# --- best ---------------------------------------------------------------------------------------


def best_latency(root: Path, spec: Any, trials: list[FinishedTrial], repetitions: int) -> dict[str, Any]:
    """Record ``trials`` in MLflow as a sweep does, then time `weightsearch best` (CLI and in process); and
    `best` and `show` on a :data:`STATUS_SMALL`-trial sweep.

    Side by side, each repetition times the same `best` through MLflow's client (a ``--filter`` that
    selects every COMPLETE run sends it there: what `best` paid before it read SQLite itself) and the
    CLI's floor (a process that only imports what `best` imports); the first one ranks every COMPLETE run.
    """
    from weightsearch.tracking.query import best_trials, open_sweep, rank, trial_runs

    started = time.perf_counter()
    record_sweep(spec, trials)
    small = _spec(root, seed=SEED, name=f"{NAME}-{STATUS_SMALL}")
    record_sweep(small, trials[:STATUS_SMALL])
    _progress(f"MLflow store with {len(trials)} trial runs written in {time.perf_counter() - started:.1f} s")
    where = ["--storage-path", str(spec.paths.root)]
    commands = {
        "cli": [*_cli(), "best", spec.name, *where],
        # Every COMPLETE run is FINISHED: the same answer, read through MLflow's client.
        "mlflow_cli": [*_cli(), "best", spec.name, *where, "--filter", "attributes.status = 'FINISHED'"],
        "floor": [sys.executable, "-c", "import weightsearch.cli, weightsearch.cli.results"],
        "small_best": [*_cli(), "best", small.name, *where],
        "small_show": [*_cli(), "show", small.name, *where],
    }
    timings: dict[str, list[float]] = {f"{kind}_s": [] for kind in [*commands, "open", "query", "every_run"]}
    answers: dict[str, str] = {}
    for repetition in range(repetitions):
        # Rotate which goes first, so that the file cache and drift favour none.
        kinds = [*commands, "process"]
        shift = repetition % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:
            started = time.perf_counter()
            if kind != "process":
                completed = subprocess.run(commands[kind], check=False, capture_output=True, text=True)
                if completed.returncode != 0:
                    raise RuntimeError(f"{kind} failed: {completed.stderr.strip()}")
                timings[f"{kind}_s"].append(time.perf_counter() - started)
                answers[kind] = completed.stdout
            else:
                sweep = open_sweep(spec.name, storage_path=str(spec.paths.root))
                opened = time.perf_counter()
                ranked = best_trials(sweep, top=5)
                timings["open_s"].append(opened - started)
                timings["query_s"].append(time.perf_counter() - opened)
        if repetition == 0:
            started = time.perf_counter()
            every = rank(trial_runs(sweep, state="COMPLETE"), sweep.objectives)[:5]
            timings["every_run_s"].append(time.perf_counter() - started)
            if [t.trial_number for t in every] != [t.trial_number for t in ranked]:
                raise RuntimeError("best_trials and ranking every run disagree")
            if answers["cli"] != answers["mlflow_cli"]:
                raise RuntimeError("`best` through MLflow's client answers otherwise")
        _progress(f"best, repetition {repetition + 1}/{repetitions}: CLI {timings['cli_s'][-1]:.2f} s "
                  f"(through MLflow's client {timings['mlflow_cli_s'][-1]:.2f} s, floor {timings['floor_s'][-1]:.2f} s), "
                  f"in process {timings['open_s'][-1]:.2f} + {timings['query_s'][-1]:.2f} s; "
                  f"{STATUS_SMALL} trials: best {timings['small_best_s'][-1]:.2f} s, show {timings['small_show_s'][-1]:.2f} s")
    return {
        "runs": len(trials),
        "complete_runs": sum(trial.state == "COMPLETE" for trial in trials),
        "small_runs": STATUS_SMALL,
        "best_trials": [trial.trial_number for trial in ranked],
        "command": " ".join(["weightsearch", *commands["cli"][len(_cli()):-1], "<root>"]),
        "raw": timings,
        **{key: common.spread(values) for key, values in timings.items()},
        "in_process_s": common.spread([a + b for a, b in zip(timings["open_s"], timings["query_s"])]),
        "speedup": statistics.median(m / c for m, c in zip(timings["mlflow_cli_s"], timings["cli_s"])),
    }


# --- status -------------------------------------------------------------------------------------


def status_latency(root: Path, spec: Any, trials: list[FinishedTrial], sizes: list[int], repetitions: int) -> dict[str, Any]:
    """A sweep of each size in ``sizes`` (its resolved spec and study in its run directory), then
    `weightsearch status` on each as a subprocess, ``repetitions`` times in rotated order (wall, Python start included)."""
    from weightsearch.config import spec_to_yaml

    names = {size: f"status-{size}" for size in sizes}
    for size, name in names.items():
        sized = spec.model_copy(update={"name": name})
        sized.paths.dir.mkdir(parents=True)
        sized.paths.spec_file.write_text(spec_to_yaml(sized))
        fill_study(sized.optuna_url, sized, trials[:size])
    timings: dict[int, list[float]] = {size: [] for size in sizes}
    for repetition in range(repetitions):
        for size in sizes[repetition % len(sizes):] + sizes[: repetition % len(sizes)]:
            started = time.perf_counter()
            completed = subprocess.run([*_cli(), "status", names[size], "--storage-path", str(spec.paths.root)],
                                       check=False, capture_output=True, text=True)
            if completed.returncode != 0:
                raise RuntimeError(f"status failed: {completed.stderr.strip()}")
            timings[size].append(time.perf_counter() - started)
        _progress(f"status, repetition {repetition + 1}/{repetitions}: "
                  + ", ".join(f"{size:,} trials {timings[size][-1]:.2f} s" for size in sizes))
    return {
        "sizes": sizes,
        "command": "weightsearch status <name> --storage-path <root>",
        "raw": {str(size): values for size, values in timings.items()},
        "per_size": {str(size): common.spread(values) for size, values in timings.items()},
    }


def _cli() -> list[str]:
    """The `weightsearch` console script of this Python (``python -m weightsearch.cli`` without one)."""
    script = Path(sys.executable).with_name("weightsearch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "weightsearch.cli"]


def record_sweep(spec: Any, trials: list[FinishedTrial]) -> None:
    """The sweep in its run directory's MLflow store: parent and first trials by the writer, the rest in bulk."""
    import yaml

    from weightsearch.config import spec_to_yaml
    from weightsearch.search.checks import reported_metrics
    from weightsearch.tracking import names
    from weightsearch.tracking.spool import Spool
    from weightsearch.tracking.writer import MlflowWriter

    spec.paths.dir.mkdir(parents=True)
    metric_names = sorted(reported_metrics(spec.trial) - {"step"})
    writer = MlflowWriter(
        spec.tracking_uri,
        experiment_name=spec.experiment,
        sweep_name=spec.name,
        sweep_id=uuid.uuid4().hex,
        artifact_location=spec.paths.artifact_dir.resolve().as_uri(),
        spool=Spool(spec.paths.dir / "tracking" / "spool.jsonl"),
    )
    writer.start()
    spec_params = names.as_params(yaml.safe_load(spec_to_yaml(spec)))
    writer.submit({"op": "sweep_start", "time": _now_ms(), "params": spec_params, "tags": _sweep_tags(spec),
                   "artifacts": []})
    resolved = [spec.space.resolve(spec.trial, trial.sampled).model_dump(mode="json") for trial in trials]
    rng = random.Random(SEED)
    for trial, config in zip(trials[:WRITER_TRIALS], resolved):
        for operation in trial_operations(trial, config, metric_names, spec.metrics[0], rng):
            writer.submit(operation)
    if not writer.flush(120.0):
        raise RuntimeError("the MLflow writer did not finish recording the first trials")
    template = writer._trial_runs[trials[0].number]  # noqa: SLF001 (the run the writer made for trial 0)
    _copy_runs(spec.tracking_uri, template, [
        trial_operations(trial, config, metric_names, spec.metrics[0], rng)
        for trial, config in zip(trials[WRITER_TRIALS:], resolved[WRITER_TRIALS:])
    ])
    complete = [trial for trial in trials if trial.state == "COMPLETE"]
    best = min(complete, key=lambda trial: trial.curve[EVAL_STEPS[-1]]) if complete else None
    counts = {f"trials/{state.lower()}": float(sum(t.state == state for t in trials))
              for state in ("COMPLETE", "PRUNED", "FAIL")}
    writer.submit({"op": "sweep_end", "time": _now_ms(), "metrics": counts, "tags": {},
                   "best_number": best.number if best else None})
    if not writer.close(120.0):
        raise RuntimeError("the MLflow writer did not finish recording the sweep")


def _sweep_tags(spec: Any) -> dict[str, str]:
    from weightsearch.tracking import names

    objectives = [{"metric": metric, "direction": direction}
                  for metric, direction in zip(spec.metrics, spec.directions)]
    return {names.KIND: names.KIND_SWEEP, names.SWEEP: spec.name, names.SAMPLER: spec.sampler.name,
            names.PRUNER: spec.pruner.name, names.OBJECTIVES: json.dumps(objectives)}


def trial_operations(
    trial: FinishedTrial, config: dict[str, Any], metric_names: list[str], objective: str, rng: random.Random
) -> list[dict[str, Any]]:
    """The writer operations the recorder submits for ``trial``: start, one metrics per evaluation, end."""
    from weightsearch.tracking import names

    started = _now_ms()
    operations: list[dict[str, Any]] = [{
        "op": "trial_start", "time": started, "number": trial.number,
        "params": {**names.as_params(config), **names.as_params(trial.sampled)},
        "tags": {
            names.KIND: names.KIND_TRIAL, names.SWEEP: NAME, names.TRIAL_NUMBER: str(trial.number),
            names.RAY_TRIAL_ID: uuid.uuid4().hex[:10], names.TRIAL_STATE: "RUNNING",
            names.SEARCHED: json.dumps(sorted(trial.sampled)), names.TRIAL_CONFIG: json.dumps(config, sort_keys=True),
        },
    }]
    for step, value in trial.curve.items():
        metrics = {name: rng.random() for name in metric_names}
        metrics[names.safe_name(objective)] = value
        operations.append({"op": "metrics", "time": started + step, "number": trial.number, "step": step,
                           "metrics": metrics})
    reason = {"FAIL": "RuntimeError: the trial raised an error", "PRUNED": None, "COMPLETE": None}[trial.state]
    operations.append({"op": "trial_end", "time": started + 400, "number": trial.number, "state": trial.state,
                       "reason": reason})
    return operations


def _copy_runs(tracking_uri: str, template_run: str, trials: list[list[dict[str, Any]]]) -> None:
    """Insert one child run per trial's operations, with the rows the writer made for ``template_run``.

    The run row and MLflow's own tags (user, source, parent) come from the template; params, tags,
    metric history and latest metrics from the operations. MLflow's SQLAlchemy tables (a private
    module: hence this one function) take them in one transaction.
    """
    from mlflow.store.tracking.dbmodels import models
    from sqlalchemy import create_engine, insert, select

    from weightsearch.tracking import names

    runs, tags, latest = models.SqlRun.__table__, models.SqlTag.__table__, models.SqlLatestMetric.__table__
    engine = create_engine(tracking_uri)
    try:
        with engine.begin() as connection:
            run_row = dict(connection.execute(select(runs).where(runs.c.run_uuid == template_run)).mappings().one())
            template_tags = dict(connection.execute(
                select(tags.c.key, tags.c.value).where(tags.c.run_uuid == template_run)).all())
            run_rows, tag_rows, param_rows, metric_rows, latest_rows = [], [], [], [], []
            for operations in trials:
                start, *evaluations, end = operations
                run_id = uuid.uuid4().hex
                run_rows.append({
                    **run_row, "run_uuid": run_id, "name": f"trial-{start['number']}",
                    "status": _RUN_STATUS[end["state"]],
                    "start_time": start["time"], "end_time": end["time"],
                    "artifact_uri": run_row["artifact_uri"].replace(template_run, run_id),
                })
                own_tags = {**template_tags, **start["tags"], names.TRIAL_STATE: end["state"],
                            "mlflow.runName": f"trial-{start['number']}"}
                if end["reason"]:
                    own_tags[names.FAIL_REASON] = end["reason"]
                tag_rows += [{"run_uuid": run_id, "key": key, "value": value} for key, value in own_tags.items()]
                param_rows += [{"run_uuid": run_id, "key": key, "value": value}
                               for key, value in start["params"].items()]
                for evaluation in evaluations:
                    metric_rows += [{"run_uuid": run_id, "key": key, "value": value, "timestamp": evaluation["time"],
                                     "step": evaluation["step"], "is_nan": False}
                                    for key, value in evaluation["metrics"].items()]
                if evaluations:
                    last = evaluations[-1]
                    latest_rows += [{"run_uuid": run_id, "key": key, "value": value, "timestamp": last["time"],
                                     "step": last["step"], "is_nan": False} for key, value in last["metrics"].items()]
            for table, batch in ((runs, run_rows), (tags, tag_rows), (models.SqlParam.__table__, param_rows),
                                 (models.SqlMetric.__table__, metric_rows), (latest, latest_rows)):
                if batch:
                    connection.execute(insert(table), batch)
    finally:
        engine.dispose()


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- report -------------------------------------------------------------------------------------


def _targets(suggestion: dict[str, Any], best: dict[str, Any], status: dict[str, Any], quick: bool) -> list[Target]:
    sizes = suggestion["sizes"]
    per_size = suggestion["per_size"]
    smallest, largest = str(sizes[0]), str(sizes[-1])
    ratio = per_size[largest]["suggest_s"]["median"] / per_size[smallest]["suggest_s"]["median"]
    at_target_size = largest == "10000" and smallest == "100"
    cli = best["cli_s"]["median"]
    return [
        Target(
            name="suggestion cost at 10,000 vs 100 finished trials",
            wanted=f"≤ {TARGET_RATIO:g}×",
            measured=f"{ratio:.1f}× ({largest} vs {smallest} trials, steady-state medians)",
            met=(ratio <= TARGET_RATIO) if at_target_size else None,
        ),
        Target(
            name="`weightsearch best` with 10,000 trial runs",
            wanted=f"≤ {TARGET_BEST_S:g} s",
            measured=(f"{cli:.2f} s CLI wall with {best['runs']:,} runs (through MLflow's client "
                      f"{best['mlflow_cli_s']['median']:.2f} s, {best['speedup']:.1f}× slower side by side); "
                      f"in process {best['in_process_s']['median']:.2f} s"),
            met=(cli <= TARGET_BEST_S) if best["runs"] >= 10_000 and not quick else None,
        ),
        Target(
            name=f"`weightsearch best` and `show` of a {STATUS_SMALL}-trial sweep",
            wanted=f"≤ {TARGET_STATUS_S:g} s",
            measured=(f"best {best['small_best_s']['median']:.2f} s, show {best['small_show_s']['median']:.2f} s "
                      "(CLI wall, medians)"),
            met=(max(best["small_best_s"]["median"], best["small_show_s"]["median"]) <= TARGET_STATUS_S)
            if not quick else None,
        ),
        Target(
            name=f"`weightsearch status` of a {STATUS_SMALL}-trial sweep",
            wanted=f"≤ {TARGET_STATUS_S:g} s",
            measured=", ".join(f"{status['per_size'][str(size)]['median']:.2f} s with {size:,} trials"
                               for size in status["sizes"]) + " (CLI wall, medians)",
            met=(status["per_size"][str(STATUS_SMALL)]["median"] <= TARGET_STATUS_S) if not quick else None,
        ),
    ]


def _markdown(settings: dict[str, Any], suggestion: dict[str, Any], best: dict[str, Any], status: dict[str, Any]) -> str:
    sizes = suggestion["sizes"]
    per_size = suggestion["per_size"]
    base = per_size[str(sizes[0])]["suggest_s"]["median"]
    rows = []
    for size in sizes:
        data = per_size[str(size)]
        rows.append([
            f"{size:,}",
            common.format_spread(data["suggest_s"], 1, 1000),
            f"{data['suggest_s']['median'] / base:.1f}×",
            common.format_spread(data["tell_s"], 1, 1000),
            common.format_spread(data["first_suggest_s"], 0, 1000),
            common.format_spread(data["open_s"], 0, 1000),
        ])
    suggestion_table = common.markdown_table(
        ["finished trials", "suggestion, steady (ms)", "vs 100", "tell (ms)", "first suggestion after opening (ms)",
         "open study (ms)"], rows)
    best_table = common.markdown_table(
        ["trial runs", "`best` CLI end to end (s)", "the same through MLflow's client (s, before)",
         "CLI floor: Python + imports (s)", "in process: open_sweep (s)", "in process: best_trials (s)",
         "ranking every COMPLETE run (s)"],
        [[f"{best['runs']:,}", common.format_spread(best["cli_s"]), common.format_spread(best["mlflow_cli_s"]),
          common.format_spread(best["floor_s"]), common.format_spread(best["open_s"]),
          common.format_spread(best["query_s"]), common.format_spread(best["every_run_s"])]])
    small_table = common.markdown_table(
        ["trial runs", "`best` CLI end to end (s)", "`show` CLI end to end (s)"],
        [[f"{best['small_runs']:,}", common.format_spread(best["small_best_s"]),
          common.format_spread(best["small_show_s"])]])
    return "\n\n".join([
        f"Study: quickstart spec with `search_spaces/full.yaml`, TPE as the spec sets it, SQLite (WAL) storage; "
        f"{settings['rounds']} rounds, sizes in rotated order, each a fresh copy of the study opened anew: "
        f"1 first suggestion + {settings['steady']} steady ones per round (suggest = bridge ask + space sample + "
        f"resolve; tell = `on_trial_complete`). Medians (min–max) over all rounds.",
        suggestion_table,
        "Where the time goes (cProfile, 10,000 trials): some 90 % of a steady suggestion is Optuna's "
        "`TPESampler._sample`, which walks every finished trial in Python (`_split_trials`, `_get_internal_repr`) "
        "once for the relative (intersection) space and once more per conditional parameter of the chosen strategy "
        "(a simplex: one per task), so it grows linearly with the study by design; the fixed part (the trial's "
        "storage writes, a commit each) dominates at 100. The first suggestion after opening also loads every "
        "trial from SQLite through SQLAlchemy's ORM into Optuna's trial cache: what a resume pays once.",
        f"`{best['command']}` on an MLflow SQLite store with {best['runs']:,} trial runs "
        f"({best['complete_runs']:,} COMPLETE), {settings['cli_repetitions']} repetitions in rotated order: the CLI "
        "(it reads the SQLite store with the standard library, `weightsearch.tracking.sqlite_runs`); side by side, "
        "the same answer through MLflow's client (a `--filter` that keeps every COMPLETE run sends it there; how "
        f"`best` read before: {best['speedup']:.1f}× the time, median of the paired ratios); a process that only "
        "imports what the CLI imports (its floor); `open_sweep` + `best_trials(top=5)` in process; once, ranking "
        "every COMPLETE run (what `best` does with several objectives).",
        best_table,
        f"`best` and `show` of a {best['small_runs']}-trial sweep (its own run directory, same repetitions):",
        small_table,
        f"`{status['command']}` ({settings['cli_repetitions']} repetitions, sizes in rotated order): a study in "
        "SQLite is read with the standard library (`weightsearch.search.sqlite_study`), not through Optuna.",
        common.markdown_table(["finished trials", "`status` CLI end to end (s)"],
                              [[f"{size:,}", common.format_spread(status["per_size"][str(size)])]
                               for size in status["sizes"]]),
    ])


def _plot(suggestion: dict[str, Any], out_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = suggestion["sizes"]
    figure, axes = plt.subplots(figsize=(6, 4))
    for key, label in (("suggest_s", "suggestion, steady"), ("first_suggest_s", "first suggestion after opening"),
                       ("tell_s", "tell")):
        spreads = [suggestion["per_size"][str(size)][key] for size in sizes]
        medians = [s["median"] * 1000 for s in spreads]
        errors = [[(s["median"] - s["min"]) * 1000 for s in spreads],
                  [(s["max"] - s["median"]) * 1000 for s in spreads]]
        axes.errorbar(sizes, medians, yerr=errors, marker="o", capsize=3, label=label)
    target = TARGET_RATIO * suggestion["per_size"][str(sizes[0])]["suggest_s"]["median"] * 1000
    axes.axhline(target, color="grey", linestyle="--",
                 label=f"target: {TARGET_RATIO:g}× the steady cost at {sizes[0]}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("finished trials in the study")
    axes.set_ylabel("ms (median, min–max)")
    axes.set_title("Cost of a suggestion vs study size (TPE, SQLite)")
    axes.legend()
    figure.tight_layout()
    path = out_dir / "study_scaling.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _progress(message: str) -> None:
    print(f"[study_scaling] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    return common.suite_main(run, __doc__, "100 and 1,000 trials, 300 MLflow runs", argv)


if __name__ == "__main__":
    raise SystemExit(main())
