"""Run a sweep: validate everything, then create the run directory and the study, and drive Ray Tune.

Order matters: the spec, the model check, the study storage and the Ray cluster are all checked
before the run directory or the study exists, so a bad input writes nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.stopper import CombinedStopper
from sqlalchemy import event
from sqlalchemy.engine import make_url

from weightsearch.config import SweepSpec, spec_to_yaml
from weightsearch.contracts import CONFIG_RESUME_FROM
from weightsearch.errors import UserError
from weightsearch.search.bridge import OptunaBridge, StorageRetry, TrialRetries
from weightsearch.search.budget import TimeBudget
from weightsearch.search.checks import check_spec
from weightsearch.search.interrupt import InterruptStopper
from weightsearch.search.lease import driver_lease
from weightsearch.search.optuna_factory import make_pruner, make_sampler
from weightsearch.search.progress import SweepProgress
from weightsearch.search.pruning import OptunaPruningScheduler
from weightsearch.search.searcher import OptunaSearcher
from weightsearch.search.summary import StudySummary, snapshot, summarize
from weightsearch.search.trainable import with_resources
from weightsearch.search.worker_setup import WORKER_SETUP_HOOK

RAY_CONNECT_TIMEOUT_S = 5.0
LOOPBACK = "127.0.0.1"
#: The sweep's Ray job environment: each worker quiets Ray's shutdown from its start (see worker_setup).
WORKER_RUNTIME_ENV = {"worker_process_setup_hook": WORKER_SETUP_HOOK}
# The logger of Ray's token setup (a private module; tests/test_private_apis.py checks it still logs the hint).
RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"

# Process-wide settings of the process that drives a sweep's Tune loop, set once by
# `configure_ray_driver` when Ray is connected or started. Both are Ray Tune's documented
# environment variables (no Tuner/RunConfig argument does the same in Ray 2.60) and are read on
# the driver only, when `Tuner.fit` starts; a value already set in the environment wins, so
# `RAY_AIR_NEW_OUTPUT=1 weightsearch run ...` brings Ray's own output back.
RAY_DRIVER_ENVIRONMENT = {
    # Ray's console tables are replaced by our progress display (SweepProgress); Ray's new output
    # engine prints its experiment table even with `verbose=0`, the old one prints nothing then.
    "RAY_AIR_NEW_OUTPUT": "0",
    # Ray logs a full traceback per trial failure; our display prints one line and the traceback
    # stays in the trial's error.txt.
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
}


def configure_ray_driver() -> None:
    """Apply :data:`RAY_DRIVER_ENVIRONMENT` to this process (values already set are kept)."""
    for name, value in RAY_DRIVER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


@dataclass(frozen=True)
class SweepResult:
    """Where a finished (or interrupted) sweep lives and what its study holds."""

    name: str
    run_dir: Path
    storage: str
    tracking_uri: str
    summary: StudySummary
    elapsed_s: float


def sweep_result(spec: SweepSpec, study: optuna.Study, elapsed_s: float) -> SweepResult:
    """What `run` and `resume` print: where the sweep lives and its study's summary."""
    return SweepResult(
        name=spec.name,
        run_dir=spec.paths.dir,
        storage=spec.optuna_url,
        tracking_uri=spec.tracking_uri,
        summary=summarize(snapshot(study), spec.optuna_url, spec.metrics, calibrated=spec.pruner.calibrate is not None),
        elapsed_s=elapsed_s,
    )


def run_sweep(spec: SweepSpec, *, callbacks: Sequence[tune.Callback] = ()) -> SweepResult:
    """Run ``spec``: one Ray Tune trial per Optuna trial; ``callbacks`` (e.g. MLflow tracking) run after ours.

    Uses the Ray connection of the calling process when there is one (tests, notebooks); otherwise
    joins ``spec.ray.address`` or starts a local Ray on 127.0.0.1 (shut down at the end). The sweep's
    driver lease (:mod:`~weightsearch.search.lease`) is held from the study's creation to the end.
    """
    paths = spec.paths
    if paths.dir.exists():
        raise UserError(
            f"sweep {spec.name!r} already exists at {paths.dir}; continue it with `weightsearch resume "
            f"{spec.name}` or start a new one with --name"
        )
    check_spec(spec)
    _check_study_storage(spec.optuna_url, spec.name, paths.dir)
    sampler, pruner = make_sampler(spec), make_pruner(spec)
    with sweep_cluster(spec):
        try:
            paths.dir.mkdir(parents=True)
        except FileExistsError:  # another `run` of this name got there first
            raise UserError(f"sweep {spec.name!r} already exists at {paths.dir}; start a new one with --name") from None
        paths.spec_file.write_text(spec_to_yaml(spec))
        try:
            study = optuna.create_study(
                storage=study_storage(spec.optuna_url),
                study_name=spec.name,
                directions=spec.directions,
                sampler=sampler,
                pruner=pruner,
                load_if_exists=False,
            )
        except optuna.exceptions.DuplicatedStudyError:
            raise UserError(f"spec field 'name': the study storage already holds a study {spec.name!r}; "
                            "start a new one with --name") from None
        with driver_lease(spec.optuna_url, spec.name):
            bridge = OptunaBridge(study, spec.metrics)
            started = time.monotonic()
            build_tuner(spec, bridge, with_resources(spec.resources.cpu, spec.resources.gpu), callbacks).fit()
            elapsed = time.monotonic() - started
    return sweep_result(spec, study, elapsed)


@contextmanager
def sweep_cluster(spec: SweepSpec) -> Iterator[None]:
    """The sweep's Ray, checked before anything is written: reachable, joined (or started locally), and
    with a node that can hold one trial; a Ray this call started is shut down at the end."""
    check_ray_address(spec)
    owns_ray = _connect_ray(spec.ray.address)
    try:
        _check_resources(spec.resources.cpu, spec.resources.gpu)
        yield
    finally:
        if owns_ray:
            ray.shutdown()


def build_tuner(
    spec: SweepSpec,
    bridge: OptunaBridge,
    trainable: Any,
    callbacks: Sequence[tune.Callback] = (),
    *,
    num_samples: int | None = None,
    resumed: Mapping[int, Path | None] | None = None,
) -> tune.Tuner:
    """The Ray Tuner of a sweep on ``bridge``'s study (the benchmark runs it with a trivial ``trainable``).

    A resume runs ``num_samples`` trials (default: the spec's), the unfinished ones in ``resumed`` first.
    """
    # Counts the sweep's time in the study whether or not it has a budget (a resume goes on from it).
    budget = TimeBudget(bridge, spec.budget.time_budget_s)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearcher(bridge, spec.space, spec.trial, resumed),
            scheduler=OptunaPruningScheduler(bridge),
            num_samples=spec.budget.num_samples if num_samples is None else num_samples,
            max_concurrent_trials=spec.budget.max_concurrent,
            # Every trial has the same resources, so one worker process can run them in turn
            # (saves starting a Python process and importing torch per trial).
            reuse_actors=True,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=spec.name,
            storage_path=str(spec.paths.ray_dir),
            # A spent budget or the driver's first Ctrl-C/SIGTERM ends the sweep through Tune's stop-all path.
            stop=CombinedStopper(budget, InterruptStopper()),
            # The budget closes cut-short trials in the study, then the study gets the writes kept
            # while its storage failed and each retry's count, before any other callback looks.
            callbacks=[budget, StorageRetry(bridge), TrialRetries(bridge), SweepProgress(bridge), *callbacks],
            verbose=0,
            # A failed trial is restarted from its last checkpoint; the searcher and scheduler hear
            # of the failure only once the retries are spent (TuneController._process_trial_failure).
            failure_config=tune.FailureConfig(fail_fast=False, max_failures=spec.budget.max_retries),
            # No CheckpointConfig(num_to_keep=1): the trainable keeps one checkpoint a trial itself,
            # without the experiment snapshot Ray forces per checkpoint (see LastCheckpointReporter).
        ),
    )


def study_storage(url: str) -> optuna.storages.BaseStorage | str:
    """The study's storage at ``url``; a SQLite file gets write-ahead logging without an fsync per commit.

    Every result is one commit (its intermediate value): with SQLite's default journal each commit
    fsyncs, which costs milliseconds (more on a busy disk) on the driver's loop. In WAL mode with
    ``synchronous=NORMAL`` a crash loses no committed data, only a power cut can lose the last
    commits. Readers (`status`, optuna-dashboard) on the same machine need no change.
    """
    if make_url(url).get_backend_name() != "sqlite":
        return url
    storage = optuna.storages.RDBStorage(url)
    event.listen(storage.engine, "connect", _write_ahead_log)
    # The connections opened while creating the tables lack the pragmas.
    storage.engine.dispose()
    return storage


def _write_ahead_log(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _trial_name(trial: tune.experiment.Trial) -> str:
    """Ray's name for a trial = its Optuna trial number, so Ray's folders and the study line up.

    A trial continued by a resume gets a folder of its own (``trial_<number>_<ray id>``): Ray
    numbers checkpoints from 0 again and would overwrite the one it resumes from.
    """
    name = f"trial_{trial.config['trial_number']:05d}"
    return f"{name}_{trial.trial_id}" if trial.config.get(CONFIG_RESUME_FROM) else name


def _check_study_storage(url: str, name: str, run_dir: Path) -> None:
    """The study storage is reachable and holds no study ``name`` yet (a new SQLite file is fine)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise UserError(
                "spec field 'storage.optuna_url': an in-memory SQLite study is lost when the sweep ends; "
                "give a file (sqlite:////abs/path/optuna.db) or null for one in the run directory"
            )
        database = Path(parsed.database)
        if not database.exists():
            if database.parent != run_dir and not database.parent.is_dir():
                raise UserError(
                    f"spec field 'storage.optuna_url': the folder {database.parent} does not exist; create it "
                    "or point the URL elsewhere"
                )
            return
    try:
        names = optuna.study.get_all_study_names(storage=url)
    except Exception as error:  # noqa: BLE001 - any driver or connection error is the user's URL
        raise UserError(f"spec field 'storage.optuna_url': cannot open {url!r}: {_first_line(error)}") from None
    if name in names:
        raise UserError(
            f"spec field 'name': the study storage already holds a study {name!r}; continue it with "
            f"`weightsearch resume {name}` or start a new one with --name"
        )


def _connect_ray(address: str | None) -> bool:
    """Join ``address`` (already found reachable) or start a local Ray; True when this call did (so the caller shuts it down).

    Also sets :data:`RAY_DRIVER_ENVIRONMENT` in this process, which drives the sweep's Tune loop.
    """
    configure_ray_driver()
    if ray.is_initialized():
        return False
    if address is None:
        # A private cluster for this sweep: every Ray process listens on 127.0.0.1 only, and keeps the
        # token authentication ray.init turns on for a new local cluster; no dashboard is started.
        with _single_machine_node_ip(), _without_auth_opt_out_hint(), _keeping_sigterm_handler():
            ray.init(
                address="local",
                num_cpus=os.cpu_count(),
                include_dashboard=False,
                configure_logging=False,
                _node_ip_address=LOOPBACK,
                runtime_env=WORKER_RUNTIME_ENV,
            )
        return True
    try:
        with _without_auth_opt_out_hint(), _keeping_sigterm_handler():
            ray.init(address=address, configure_logging=False, runtime_env=WORKER_RUNTIME_ENV)
    except Exception as error:  # noqa: BLE001 - connection and authentication errors alike
        raise UserError(f"spec field 'ray.address': cannot join the Ray cluster at {address}: {_first_line(error)}") from None
    return True


@contextmanager
def _single_machine_node_ip() -> Iterator[None]:
    """While in effect, ``ray.init(_node_ip_address="127.0.0.1")`` keeps the new node on 127.0.0.1.

    Private Ray API, used here only: on Linux, ray.init replaces a loopback ``_node_ip_address`` by the
    machine's routable address (``services.resolve_ip_for_localhost``) unless
    ``ray_constants.ENABLE_RAY_CLUSTER`` is false, as on macOS and Windows, where Ray keeps single-machine
    clusters on loopback. Ray reads it from RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, when imported, so
    the environment variable cannot do it here; the node, once started, binds the GCS, raylet, object
    manager, agents and workers to its node address. tests/test_private_apis.py checks this shape.
    """
    from ray._private import ray_constants

    kept = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = kept


@contextmanager
def _keeping_sigterm_handler() -> Iterator[None]:
    """The process keeps its SIGTERM handler: ray.init's core worker installs Ray's failure-signal handler for
    it (a stack dump, then abort), which would end a driver on SIGTERM instead of stopping its sweep gracefully."""
    handler = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, handler)


class _AuthOptOutHint(logging.Filter):
    """Drops Ray's advice to set RAY_AUTH_MODE=disabled: the one guard of a Ray cluster stays on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "RAY_AUTH_MODE=disabled" not in record.getMessage()


@contextmanager
def _without_auth_opt_out_hint() -> Iterator[None]:
    """Ray's token setup logs its opt-out hint while ray.init runs; :data:`RAY_AUTH_LOGGER` is its (private) module."""
    hint_filter = _AuthOptOutHint()
    logger = logging.getLogger(RAY_AUTH_LOGGER)
    logger.addFilter(hint_filter)
    try:
        yield
    finally:
        logger.removeFilter(hint_filter)


def check_ray_address(spec: SweepSpec) -> None:
    """Fail fast on a wrong ``ray.address`` ``host:port`` (ray.init would retry for a long while)."""
    if spec.ray.address not in (None, "auto"):
        _check_reachable(spec.ray.address)


def _check_reachable(address: str) -> None:
    host, separator, port = address.rpartition(":")
    if not separator or not host or not port.isdigit():
        raise UserError(f"spec field 'ray.address': {address!r} is not host:port (e.g. 10.0.0.5:6379) or auto")
    try:
        socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise UserError(
            f"spec field 'ray.address': no Ray head answers at {address} ({error.strerror or error}); "
            "start one with `ray start --head` or fix the address"
        ) from None


def _check_resources(cpus: float, gpus: float) -> None:
    """Some node can hold one trial; otherwise every trial would wait forever."""
    for node in ray.nodes():
        resources = node.get("Resources", {})
        if node.get("Alive") and resources.get("CPU", 0) >= cpus and resources.get("GPU", 0) >= gpus:
            return
    available = ray.cluster_resources()
    raise UserError(
        f"spec field 'resources': no Ray node has {cpus:g} CPU and {gpus:g} GPU for one trial "
        f"(cluster: {available.get('CPU', 0):g} CPU, {available.get('GPU', 0):g} GPU); lower them"
    )


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
