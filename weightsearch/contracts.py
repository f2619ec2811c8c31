"""Names every layer shares, defined once: run-directory layout, Ray config and result keys, Optuna
attribute names and the trainer's metric names. Imports nothing but the standard library."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# --- run directory ----------------------------------------------------------------------------
DEFAULT_STORAGE_ROOT = "ws-runs"
# Set to "1" while `weightsearch validate` builds a trial's model: a model factory then writes nothing
# (no data cache), since validate creates nothing on disk.
ENV_VALIDATING = "WEIGHTSEARCH_VALIDATING"
SQLITE_URL_PREFIX = "sqlite:///"  # an SQLite file, as SQLAlchemy (Optuna) and MLflow both spell it


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (Optuna storage or MLflow tracking); None for another
    backend, an in-memory database or a URL with options (the stdlib readers then leave it to the library)."""
    if not url.startswith(SQLITE_URL_PREFIX) or "?" in url:
        return None
    path = url.removeprefix(SQLITE_URL_PREFIX)
    return Path(path) if path and path != ":memory:" else None


@dataclass(frozen=True)
class RunPaths:
    """The run directory of sweep ``name`` under ``root``, and the default stores inside it."""

    root: Path
    name: str

    @classmethod
    def of(cls, name: str, storage_path: str | os.PathLike[str] | None = None) -> "RunPaths":
        return cls(Path(storage_path or DEFAULT_STORAGE_ROOT).expanduser().resolve(), name)

    @property
    def dir(self) -> Path:
        return self.root / self.name

    @property
    def spec_file(self) -> Path:
        """The resolved spec as the sweep ran it (read back by `status`, `best`, `resume`)."""
        return self.dir / "spec.yaml"

    @property
    def optuna_url(self) -> str:
        return f"{SQLITE_URL_PREFIX}{self.dir / 'optuna.db'}"

    @property
    def tracking_uri(self) -> str:
        return f"{SQLITE_URL_PREFIX}{self.dir / 'mlflow.db'}"

    @property
    def artifact_dir(self) -> Path:
        return self.dir / "mlartifacts"

    @property
    def ray_dir(self) -> Path:
        """Ray Tune's storage_path; its experiment folder is named after the sweep."""
        return self.dir / "ray"


# --- command-line flags that set spec fields (run, resume, submit offer them) ----------------------
@dataclass(frozen=True)
class SweepFlag:
    """A command-line flag that sets one spec field, e.g. ``--num-samples 8`` → ``budget.num_samples``."""

    flag: str
    key: str
    type: type
    help: str
    forwarded: bool  # `submit` passes it on to `weightsearch run` on the cluster

    @property
    def attribute(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


SWEEP_FLAGS = (
    SweepFlag("--name", "name", str, "sweep name (default: the spec's name)", True),
    SweepFlag("--num-samples", "budget.num_samples", int, "number of trials to finish", True),
    SweepFlag("--max-concurrent", "budget.max_concurrent", int, "trials running at once", True),
    # A submitted sweep's run directory and Ray are the cluster's own: `submit` sets them itself.
    SweepFlag("--storage-path", "storage.path", str, "run directory root (default: ./ws-runs)", False),
    SweepFlag("--tracking-uri", "tracking.uri", str, "MLflow tracking URI (default: SQLite in the run directory)", True),
    SweepFlag("--ray-address", "ray.address", str, "address of an existing Ray cluster (default: start a local one)", False),
)


# --- the config Ray Tune hands a trial (built by the searcher, read by the trainable and tracking) --
CONFIG_TRIAL_NUMBER = "trial_number"  # the Optuna trial number
CONFIG_TRIAL = "trial"  # the resolved TrialConfig as a dict
CONFIG_PARAMS = "params"  # the sampled values, by TrialConfig path
CONFIG_RESUME_FROM = "resume_from"  # a checkpoint directory of an earlier run, or None

# --- a trial's reported result ----------------------------------------------------------------
RESULT_STEP = "step"  # training steps done when the result was reported
RESULT_TRAIN_SECONDS = "time/train_s"  # seconds spent in training steps (evaluation excluded)

# --- Optuna trial user attributes -------------------------------------------------------------
ATTR_PARAMS = "params"  # the sampled values by TrialConfig path (simplex weights included)
ATTR_FAIL_REASON = "fail_reason"  # why a FAIL trial failed (one line)
ATTR_STOP_REASON = "stop_reason"  # why a trial was stopped from outside its pruner (time budget)
ATTR_RESUMED_FROM = "resumed_from"  # the checkpoint a resumed trial continued from
ATTR_RETRIES = "retries"  # how often Ray retried the trial from its checkpoint after an error (budget.max_retries)
ATTR_SUGGESTED = "suggested"  # a trial `weightsearch suggest --enqueue` proposed: the surrogate's {"mean", "std"}
# Optuna study user attribute: seconds the sweep's Tune loop has run, over the first run and every resume.
STUDY_ATTR_TIME_SPENT = "time_spent_s"
# Optuna study user attribute prefix: one confirmation run's result, ``confirm:<scale>:<configuration>:<seed>``.
STUDY_ATTR_CONFIRM = "confirm:"
# Optuna study user attributes of a calibrated pruner (weightsearch.search.calibration): the agreement of
# each evaluation step with the final objective, {"min_complete", "min_rho", "steps": {"<step>": {"n", "rho",
# "trusted"}}}, and the trials its inner pruner has judged, {"<trial number>": the first step judged}.
STUDY_ATTR_CALIBRATION = "calibration"
STUDY_ATTR_CALIBRATION_JUDGED = "calibration_judged"
ATTR_SEED_VALUES = "seed_values"  # a multi-seed trial's final objective values per seed: {metric: [v0, v1, …]}
# One user attribute per value a trial trained with, under a readable name (optuna-dashboard shows them as
# numbers; Optuna's own parameter names are prefixed, and a simplex's are its uniform coordinates `…:u`):
# the fixed strategy's λ of a task as ``lambda.<task>``, anything else as ``value.<name>`` (see readable_values).
ATTR_LAMBDA_PREFIX = "lambda."
ATTR_VALUE_PREFIX = "value."
FIXED_STRATEGY = "fixed"  # the strategy whose ``weights`` are the λ of L_total = Σ λ_i L_i

# --- metric names -----------------------------------------------------------------------------
TRAIN_PREFIX = "train"
VAL_PREFIX = "val"
RECORD_KINDS = ("loss", "loss_norm", "weight", "contrib")  # per task, at every step
TOTAL_LOSS = "loss/total"


def task_metric(prefix: str, kind: str, task: str) -> str:
    """``<prefix>/<kind>/<task>``, e.g. ``train/weight/align`` or ``val/loss/action``."""
    return f"{prefix}/{kind}/{task}"


def task_pair(first: str, second: str) -> str:
    """The key of a pair of tasks (gradient cosines): ``action-align``."""
    return f"{first}-{second}"


def record_metric_names(tasks: Iterable[str], *, diagnostics: bool, prefix: str = TRAIN_PREFIX) -> set[str]:
    """The names a composite-loss record reports for ``tasks`` (gradient diagnostics only when on)."""
    tasks = list(tasks)
    names = {task_metric(prefix, kind, task) for kind in RECORD_KINDS for task in tasks}
    names.add(f"{prefix}/{TOTAL_LOSS}")
    if diagnostics:
        names |= {task_metric(prefix, "grad_norm", task) for task in tasks}
        names |= {
            task_metric(prefix, "grad_cos", task_pair(first, second))
            for index, first in enumerate(tasks)
            for second in tasks[index + 1 :]
        }
    return names


def seed_metric(name: str, index: int) -> str:
    """``seed<index>/<name>``: the value of seed ``seed + index`` in a trial with ``repeats`` > 1.

    Such a trial reports every metric's mean over its seeds under the plain name (what the sampler
    and the pruner see) and each seed's own value under this one, e.g. ``seed1/val/action/mse``.
    """
    return f"seed{index}/{name}"


def seed_values(result: Mapping[str, object], name: str) -> list[float]:
    """Each seed's value of ``name`` in ``result``, in seed order; empty for a single-seed trial."""
    values: list[float] = []
    while (key := seed_metric(name, len(values))) in result:
        values.append(float(result[key]))  # type: ignore[arg-type]
    return values


def trainer_metric_names(tasks: Iterable[str], *, diagnostics: bool) -> set[str]:
    """What the trainer reports besides the model's own evaluation metrics."""
    return record_metric_names(tasks, diagnostics=diagnostics) | {RESULT_STEP, RESULT_TRAIN_SECONDS}


def readable_values(strategy: str, strategy_params: Mapping[str, object], sampled: Mapping[str, object]) -> dict:
    """A trial's values under readable attribute names, scalars only (lists and mappings left out).

    ``value.strategy``; the strategy's resolved arguments (base and sampled) as ``lambda.<task>`` for the
    fixed strategy's weights and ``value.<strategy>.<argument>`` otherwise; every other ``sampled`` value
    (a TrialConfig path) as ``value.<path>``.
    """
    values: dict[str, object] = {f"{ATTR_VALUE_PREFIX}strategy": strategy}
    for path, value in _flat(strategy_params):
        task = path.removeprefix("weights.")
        lambda_weight = strategy == FIXED_STRATEGY and task != path
        values[ATTR_LAMBDA_PREFIX + task if lambda_weight else f"{ATTR_VALUE_PREFIX}{strategy}.{path}"] = value
    for path, value in sampled.items():
        if path != "strategy" and not path.startswith("strategy_params."):
            values[ATTR_VALUE_PREFIX + path] = value
    return {name: value for name, value in values.items() if value is None or isinstance(value, (str, int, float))}


def _flat(mapping: Mapping[str, object], prefix: str = "") -> Iterable[tuple[str, object]]:
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
