"""The sweep spec: one YAML file naming the objective, the base trial, the search space and how to search.

::

    name: quickstart                 # [A-Za-z0-9_.-]+ : names the run directory and the MLflow experiment
    objective: {metric: val/action/mse, mode: min}   # or a list of them (multi-objective)
    trial: {model: reference, options: {size: tiny}, steps: 300, eval_every: 50}   # a TrialConfig
    space: adaptive.yaml             # a space file, or the space inline (see weightsearch.config.space)
    sampler: {name: tpe, seed: 0, options: {n_startup_trials: 4}}
    pruner: {name: median, options: {n_warmup_steps: 100}}   # + calibrate: {min_complete: 6, min_rho: 0.8}
    budget: {num_samples: 10, max_concurrent: 2, time_budget_s: null, max_retries: 1}
    resources: {cpu: 1, gpu: 0}      # per trial
    storage: {path: ws-runs, optuna_url: null}       # null: SQLite in the run directory
    tracking: {uri: null, experiment: null}          # null: SQLite in the run directory; the sweep name
    ray: {address: null}             # null: start a local Ray
    confirm: {top: 3, seeds: 8, set: {trial.steps: 800}}   # after `run`: the best re-trained on fresh seeds (at this scale)

This module is the schema alone; reading files and ``--set`` overrides is
:mod:`weightsearch.config.loading`, building Optuna's sampler and pruner and the checks against the
model are in :mod:`weightsearch.search`.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from weightsearch.config.errors import FieldError, model_at
from weightsearch.config.space import SearchSpace
from weightsearch.config.trial import TrialConfig, with_changes, with_fields
from weightsearch.contracts import DEFAULT_STORAGE_ROOT, RunPaths

logger = logging.getLogger(__name__)

DEFAULT_OBJECTIVE = "val/action/mse"
SamplerName = Literal["tpe", "random", "cmaes", "gp", "nsga2", "grid"]
PrunerName = Literal[
    "median", "percentile", "successive_halving", "hyperband", "patient", "wilcoxon", "threshold", "none"
]
_SWEEP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_BASELINE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# SQLAlchemy's URL form, ``dialect[+driver]://…`` (checked by its own parser when the study opens).
_DATABASE_URL = re.compile(r"^[A-Za-z][\w]*(\+[\w]+)?://")


class Objective(BaseModel):
    """A metric the trial reports, and whether lower or higher is better."""

    model_config = ConfigDict(extra="forbid")

    metric: str = DEFAULT_OBJECTIVE
    mode: Literal["min", "max"] = "min"

    @model_validator(mode="before")
    @classmethod
    def _metric_named_when_maximising(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("mode") == "max" and "metric" not in data:
            raise FieldError(
                ("metric",), f"name the metric to maximise; the default {DEFAULT_OBJECTIVE} is an error to minimise"
            )
        return data

    @property
    def direction(self) -> Literal["minimize", "maximize"]:
        return "minimize" if self.mode == "min" else "maximize"


class SamplerSpec(BaseModel):
    """Optuna sampler by name; ``options`` are its constructor's keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    name: SamplerName = "tpe"
    seed: int | None = 0
    options: dict[str, Any] = Field(default_factory=dict)


class CalibrateSpec(BaseModel):
    """Gate the pruner: it may stop a trial only at steps where ``min_complete`` finished trials give
    Spearman ρ ≥ ``min_rho`` between their value there and their final objective."""

    model_config = ConfigDict(extra="forbid")

    min_complete: int = Field(6, ge=3, le=1_000_000, strict=True)
    min_rho: float = Field(0.8, ge=-1.0, le=1.0, allow_inf_nan=False)


class PrunerSpec(BaseModel):
    """Optuna pruner by name; ``options`` are its constructor's keyword arguments (``patient`` wraps a
    pruner); ``calibrate`` gates it by the agreement of early and final rankings."""

    model_config = ConfigDict(extra="forbid")

    name: PrunerName = "median"
    options: dict[str, Any] = Field(default_factory=dict)
    calibrate: CalibrateSpec | None = None

    @model_validator(mode="after")
    def _calibrate_a_pruner(self) -> PrunerSpec:
        if self.name == "none" and self.calibrate is not None:
            raise FieldError(
                ("calibrate",), "pruner 'none' prunes nothing to calibrate; remove calibrate or name a pruner"
            )
        return self


class Budget(BaseModel):
    """How many trials, how many at once, an optional wall-clock limit for the whole sweep, and how
    often a failed trial (exception, NaN loss, dead worker) is restarted from its last checkpoint."""

    model_config = ConfigDict(extra="forbid")

    num_samples: int = Field(ge=1, le=1_000_000, strict=True)
    max_concurrent: int = Field(2, ge=1, le=10_000, strict=True)
    time_budget_s: float | None = Field(None, gt=0, allow_inf_nan=False)
    max_retries: int = Field(1, ge=0, le=100, strict=True)


class Resources(BaseModel):
    """What one trial reserves from Ray: CPUs and a GPU share (fractions let trials share a GPU)."""

    model_config = ConfigDict(extra="forbid")

    cpu: float = Field(1.0, gt=0, le=1024, allow_inf_nan=False)
    gpu: float = Field(0.0, ge=0, le=1024, allow_inf_nan=False)

    @field_validator("gpu")
    @classmethod
    def _whole_above_one(cls, gpu: float) -> float:
        if gpu > 1 and not float(gpu).is_integer():
            raise ValueError(f"must be a fraction up to 1 or a whole number of GPUs (got {gpu:g})")
        return gpu


class Storage(BaseModel):
    """Where the sweep keeps its files, and the Optuna study's database (any SQLAlchemy URL)."""

    model_config = ConfigDict(extra="forbid")

    path: str = DEFAULT_STORAGE_ROOT
    optuna_url: str | None = None

    @field_validator("optuna_url")
    @classmethod
    def _sqlalchemy_url(cls, url: str | None) -> str | None:
        if url is not None and not _DATABASE_URL.match(url):
            raise ValueError(
                f"{url!r} is not an SQLAlchemy URL; write e.g. sqlite:////abs/path/optuna.db or "
                "postgresql://user@host/db, or null for SQLite in the run directory"
            )
        return url


class Tracking(BaseModel):
    """The MLflow server and experiment (the experiment defaults to the sweep name)."""

    model_config = ConfigDict(extra="forbid")

    uri: str | None = None
    experiment: str | None = None


class RayConfig(BaseModel):
    """An existing Ray cluster to join (``auto`` or ``host:port``); null starts a local one."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = None


class ConfirmSpec(BaseModel):
    """After the search, re-train the ``top`` configurations and the baselines on ``seeds`` fresh paired seeds,
    at the search's scale or at the one ``set`` names (``trial.KEY: value``, as ``confirm --set trial.KEY=VALUE``)."""

    model_config = ConfigDict(extra="forbid")

    top: int = Field(3, ge=1, le=100)
    seeds: int = Field(8, ge=2, le=1000, description="At least 2: an interval needs two seeds.")
    set: dict[str, Any] = Field(
        default_factory=dict, description="Trial settings of the target scale, e.g. trial.steps: 800."
    )

    @field_validator("set")
    @classmethod
    def _trial_fields(cls, changes: dict[str, Any]) -> dict[str, Any]:
        for key in changes:
            head, *path = key.split(".")
            if head != "trial" or not path or not all(path):
                raise FieldError((key,), "write trial.KEY: value, e.g. trial.steps: 800")
            for index, part in enumerate(path):
                model = model_at(TrialConfig, path[:index])
                if model is None:  # inside a free mapping (options): the model checks its own keys
                    break
                if part not in model.model_fields:
                    raise FieldError((key,), f"the trial has no field {part!r}; valid: {', '.join(model.model_fields)}")
        return changes

    def scale_settings(self) -> list[str]:
        """``set`` as ``confirm --set`` arguments (``trial.KEY=VALUE``; JSON values read back as YAML)."""
        return [f"{key}={json.dumps(value)}" for key, value in self.set.items()]


class SweepSpec(BaseModel):
    """A validated sweep: what to optimise, the base trial, the space, the sampler, pruner and budget."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    objective: list[Objective] = Field(default_factory=lambda: [Objective()], min_length=1)
    trial: TrialConfig = Field(default_factory=TrialConfig)
    space: SearchSpace
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    budget: Budget
    resources: Resources = Field(default_factory=Resources)
    storage: Storage = Field(default_factory=Storage)
    tracking: Tracking = Field(default_factory=Tracking)
    ray: RayConfig = Field(default_factory=RayConfig)
    baselines: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Name -> trial fields that replace the base trial's (default: `equal`, every λ = 1).",
    )
    confirm: ConfirmSpec | None = None

    @field_validator("objective", mode="before")
    @classmethod
    def _one_or_many(cls, objective: Any) -> Any:
        return [objective] if isinstance(objective, dict) else objective

    @field_validator("name")
    @classmethod
    def _directory_name(cls, name: str) -> str:
        # Not starting with '-' (it would read as a flag in `weightsearch resume NAME`) or '.' (hidden, '..').
        if not _SWEEP_NAME.match(name):
            raise ValueError(
                f"{name!r} cannot name a run directory; use letters, digits, '_', '-' and '.', "
                "starting with a letter, a digit or '_'"
            )
        return name

    @field_validator("baselines")
    @classmethod
    def _named_trials(cls, baselines: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, fields in baselines.items():
            if not _BASELINE_NAME.match(name):
                raise FieldError((name,), "name baselines with letters, digits, '_' or '-'")
            unknown = [field for field in fields if field not in TrialConfig.model_fields]
            if unknown:
                raise FieldError((name, unknown[0]), f"not a trial setting; use one of: {', '.join(TrialConfig.model_fields)}")
        return baselines

    @model_validator(mode="after")
    def _resolve(self) -> "SweepSpec":
        if len(set(self.metrics)) != len(self.metrics):
            raise FieldError(("objective",), f"metrics repeat: {self.metrics}; list each metric once")
        try:
            self.space.check_against(self.trial)
        except FieldError as error:
            raise FieldError(("space", *error.path), error.message) from None
        for name in self.baselines:
            try:
                self.baseline_trial(name)
            except ValueError as error:
                raise FieldError(("baselines", name), str(error)) from None
        if self.confirm is not None:
            try:
                with_changes(self.trial, {key.removeprefix("trial."): value for key, value in self.confirm.set.items()})
            except ValueError as error:
                raise FieldError(("confirm", "set"), f"the target scale gives an invalid trial: {error}") from None
        if self.tracking.experiment is None:
            self.tracking = self.tracking.model_copy(update={"experiment": self.name})
        if self.is_multi_objective and self.pruner.calibrate is not None:
            raise FieldError(
                ("pruner", "calibrate"),
                f"calibration ranks one objective, the spec has {len(self.objective)}; remove calibrate "
                "(a multi-objective study is not pruned)",
            )
        if self.is_multi_objective and self.pruner.name != "none":
            logger.warning(
                "warning: pruner %r is off: Optuna prunes single-objective studies only (objective has %d metrics)",
                self.pruner.name,
                len(self.objective),
            )
            self.pruner = PrunerSpec(name="none")
        return self

    def baseline_trial(self, name: str) -> TrialConfig:
        """The base trial with baseline ``name``'s fields in place (a new strategy starts from its own arguments)."""
        return with_fields(self.trial, self.baselines[name])

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objective) > 1

    @property
    def metrics(self) -> list[str]:
        return [objective.metric for objective in self.objective]

    @property
    def directions(self) -> list[Literal["minimize", "maximize"]]:
        """Optuna study directions, one per objective."""
        return [objective.direction for objective in self.objective]

    @property
    def paths(self) -> RunPaths:
        return RunPaths.of(self.name, self.storage.path)

    @property
    def optuna_url(self) -> str:
        return self.storage.optuna_url or self.paths.optuna_url

    @property
    def tracking_uri(self) -> str:
        return self.tracking.uri or self.paths.tracking_uri

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.name
