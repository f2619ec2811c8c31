"""The sweep spec: one YAML file naming the objective, the base trial, the search space and how to search.

::

    name: quickstart                 # [A-Za-z0-9_.-]+ : names the run directory and the MLflow experiment
    objective: {metric: val/action/mse, mode: min}   # or a list of them (multi-objective)
    trial: {model: reference, options: {size: tiny}, steps: 300, eval_every: 50}   # a TrialConfig
    space: adaptive.yaml             # a space file, or the space inline (see weightsearch.space)
    sampler: {name: tpe, seed: 0, options: {n_startup_trials: 4}}
    pruner: {name: median, options: {n_warmup_steps: 100}}
    budget: {num_samples: 10, max_concurrent: 2, time_budget_s: null, max_retries: 1}
    resources: {cpu: 1, gpu: 0}      # per trial
    storage: {path: ws-runs, optuna_url: null}       # null: SQLite in the run directory
    tracking: {uri: null, experiment: null}          # null: SQLite in the run directory; the sweep name
    ray: {address: null}             # null: start a local Ray

A space given as a file name is looked up next to the spec, then in the repository's
``search_spaces/`` folder, then in the current directory. ``load_spec`` also applies
``--set key.path=value`` overrides (the value is read as YAML) before validating.

Two levels of checks: :func:`load_spec` validates the file alone (types, ranges, the space's
syntax, strategy names and arguments, the space against the base trial); :func:`check_spec`
builds the trial's model once on the CPU to check what only the model knows (its tasks, the
metrics it reports, what the strategies accept).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from weightsearch.errors import UserError
from weightsearch.search.paths import DEFAULT_STORAGE_ROOT, RunPaths
from weightsearch.space import FieldError, SearchSpace, Simplex, format_validation_error, model_at, read_yaml_mapping
from weightsearch.trial.config import TrialConfig

logger = logging.getLogger(__name__)

SEARCH_SPACES_DIR = Path(__file__).resolve().parent.parent / "search_spaces"
DEFAULT_OBJECTIVE = "val/action/mse"
SamplerName = Literal["tpe", "random", "cmaes", "gp", "nsga2", "grid"]
PrunerName = Literal[
    "median", "percentile", "successive_halving", "hyperband", "patient", "wilcoxon", "threshold", "none"
]


class Objective(BaseModel):
    """A metric the trial reports, and whether lower or higher is better."""

    model_config = ConfigDict(extra="forbid")

    metric: str = DEFAULT_OBJECTIVE
    mode: Literal["min", "max"] = "min"

    @property
    def direction(self) -> Literal["minimize", "maximize"]:
        return "minimize" if self.mode == "min" else "maximize"


class SamplerSpec(BaseModel):
    """Optuna sampler by name; ``options`` are its constructor's keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    name: SamplerName = "tpe"
    seed: int | None = 0
    options: dict[str, Any] = Field(default_factory=dict)


class PrunerSpec(BaseModel):
    """Optuna pruner by name; ``options`` are its constructor's keyword arguments (``patient`` wraps a pruner)."""

    model_config = ConfigDict(extra="forbid")

    name: PrunerName = "median"
    options: dict[str, Any] = Field(default_factory=dict)


class Budget(BaseModel):
    """How many trials, how many at once, an optional wall-clock limit for the whole sweep, and how
    often a failed trial (exception, NaN loss, dead worker) is restarted from its last checkpoint."""

    model_config = ConfigDict(extra="forbid")

    num_samples: int = Field(ge=1)
    max_concurrent: int = Field(2, ge=1)
    time_budget_s: float | None = Field(None, gt=0)
    max_retries: int = Field(1, ge=0)


class Resources(BaseModel):
    """What one trial reserves from Ray: CPUs and a GPU share (fractions let trials share a GPU)."""

    model_config = ConfigDict(extra="forbid")

    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)

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
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if url is not None:
            try:
                make_url(url)
            except ArgumentError:
                raise ValueError(
                    f"{url!r} is not an SQLAlchemy URL; write e.g. sqlite:////abs/path/optuna.db or "
                    "postgresql://user@host/db, or null for SQLite in the run directory"
                ) from None
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


class SweepSpec(BaseModel):
    """A validated sweep: what to optimise, the base trial, the space, the sampler, pruner and budget."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
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

    @field_validator("objective", mode="before")
    @classmethod
    def _one_or_many(cls, objective: Any) -> Any:
        return [objective] if isinstance(objective, dict) else objective

    @field_validator("name")
    @classmethod
    def _not_a_dot_path(cls, name: str) -> str:
        if set(name) == {"."}:
            raise ValueError(f"{name!r} is not a directory name; use letters, digits, '_', '-' or '.'")
        return name

    @model_validator(mode="after")
    def _resolve(self) -> "SweepSpec":
        if len(set(self.metrics)) != len(self.metrics):
            raise FieldError(("objective",), f"metrics repeat: {self.metrics}; list each metric once")
        try:
            self.space.check_against(self.trial)
        except FieldError as error:
            raise FieldError(("space", *error.path), error.message) from None
        if self.tracking.experiment is None:
            self.tracking = self.tracking.model_copy(update={"experiment": self.name})
        if self.is_multi_objective and self.pruner.name != "none":
            logger.warning(
                "warning: pruner %r is off: Optuna prunes single-objective studies only (objective has %d metrics)",
                self.pruner.name,
                len(self.objective),
            )
            self.pruner = PrunerSpec(name="none")
        return self

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


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> SweepSpec:
    """Read a spec YAML, apply ``key.path=value`` overrides, inline its space file and validate.

    Raises:
        UserError: one line naming the file or field and the fix.
    """
    path = Path(path)
    data = read_yaml_mapping(path, "spec file")
    if data and set(data) <= {"strategy", "parameters"}:
        raise UserError(
            f"spec file '{path}': this is a search space, not a sweep spec; write a spec with "
            f"`space: {path.name}` (see search_spaces/quickstart.yaml)"
        )
    spec_dir = path.resolve().parent
    for override in overrides:
        _apply_override(data, override, spec_dir)
    space_file = None
    if isinstance(data.get("space"), str):
        space_file = find_space_file(data["space"], spec_dir)
        data["space"] = read_yaml_mapping(space_file, "space file")
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as error:
        first_loc = error.errors()[0]["loc"]
        if space_file is not None and first_loc[:1] == ("space",):
            raise UserError(
                format_validation_error(error, f"space file '{space_file}' field", skip=1, root=SweepSpec)
            ) from None
        message = format_validation_error(error, "spec field", root=SweepSpec)
        if isinstance(data.get("objective"), dict):
            # The spec wrote one objective; name its field as written, not as the list it becomes.
            message = message.replace("'objective.0.", "'objective.", 1)
        raise UserError(message) from None


def find_space_file(name: str, spec_dir: Path) -> Path:
    """The space file ``name``: next to the spec, else in the repo's ``search_spaces/``, else in the CWD."""
    candidates = [spec_dir / name, SEARCH_SPACES_DIR / name, Path.cwd() / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise UserError(
        f"spec field 'space': space file {name!r} not found next to the spec ({spec_dir}), in "
        f"{SEARCH_SPACES_DIR} or in the current directory ({Path.cwd()}); fix the path or inline the space"
    )


def overrides_from_args(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides of a command line, then its dedicated flags (``--num-samples 8``) as overrides."""
    flags = {
        "name": "name",
        "num_samples": "budget.num_samples",
        "max_concurrent": "budget.max_concurrent",
        "storage_path": "storage.path",
        "tracking_uri": "tracking.uri",
        "ray_address": "ray.address",
    }
    overrides = list(getattr(args, "overrides", None) or [])
    for attribute, key in flags.items():
        value = getattr(args, attribute, None)
        if value is not None:
            # JSON is YAML, so a quoted string survives the YAML reading of the value unchanged.
            overrides.append(f"{key}={json.dumps(value)}")
    return overrides


class _FlowListDumper(yaml.SafeDumper):
    """Writes lists inline (``float: [0.001, 0.01]``), as the spec files are written by hand."""


_FlowListDumper.add_representer(
    list, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)
)


def spec_to_yaml(spec: SweepSpec) -> str:
    """The resolved spec as YAML (space inlined, every trial setting explicit); load_spec reads it back."""
    data = spec.model_dump(mode="json", by_alias=True)
    data["space"] = spec.space.to_mapping()
    if not spec.is_multi_objective:
        data["objective"] = data["objective"][0]
    header = f"# Resolved sweep spec of {spec.name!r}, as weightsearch ran it.\n"
    return header + yaml.dump(data, Dumper=_FlowListDumper, sort_keys=False, allow_unicode=True)


# Optuna samplers and pruners. Options are the constructor's keyword arguments, checked against its
# signature so that a typo is a one-line error listing the valid names. Arguments that take Python
# objects (callables, other samplers) cannot be written in YAML and are not offered, except
# `patient`'s `wrapped_pruner`, which is itself a {name, options} pruner section.
SAMPLERS: dict[str, type[optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "grid": optuna.samplers.GridSampler,
}
PRUNERS: dict[str, type[optuna.pruners.BasePruner]] = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "patient": optuna.pruners.PatientPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "none": optuna.pruners.NopPruner,
}
# Set from elsewhere in the spec: the sampler's seed (sampler.seed) and the grid (the space).
_SPEC_OWNED = {"seed": "sampler.seed", "search_space": "space"}
_OBJECT_TYPES = ("Callable", "BaseSampler", "BaseMutation", "BaseCrossover", "FrozenTrial")
_SINGLE_OBJECTIVE_SAMPLERS = {"cmaes"}


def make_sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    """The spec's sampler, seeded by ``sampler.seed``; the grid sampler gets the space's finite grid."""
    name = spec.sampler.name
    if spec.is_multi_objective and name in _SINGLE_OBJECTIVE_SAMPLERS:
        raise UserError(
            f"spec field 'sampler.name': {name!r} optimises one objective, the spec has {len(spec.objective)}; "
            "use tpe, nsga2, gp or random"
        )
    sampler_class = SAMPLERS[name]
    options = dict(spec.sampler.options)
    _check_options(sampler_class, options, "sampler", name)
    if name == "grid":
        options["search_space"] = spec.space.grid_search_space()
    return _construct(sampler_class, {**options, "seed": spec.sampler.seed}, "sampler", name)


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    """The spec's pruner (``none`` for a multi-objective spec, which the spec already enforces)."""
    return _pruner(spec.pruner, "pruner")


def _pruner(section: PrunerSpec, field: str) -> optuna.pruners.BasePruner:
    pruner_class = PRUNERS[section.name]
    options = dict(section.options)
    if section.name == "none":
        if options:
            raise UserError(f"spec field '{field}.options': pruner 'none' takes no options; remove them")
        return pruner_class()
    _check_options(pruner_class, options, field, section.name)
    if section.name == "patient" and options.get("wrapped_pruner") is not None:
        options["wrapped_pruner"] = _wrapped_pruner(options["wrapped_pruner"], f"{field}.options.wrapped_pruner")
    return _construct(pruner_class, options, field, section.name)


def _wrapped_pruner(section: Any, field: str) -> optuna.pruners.BasePruner:
    if not isinstance(section, Mapping):
        raise UserError(f"spec field '{field}': write a pruner section, e.g. {{name: median, options: {{}}}}")
    try:
        wrapped = PrunerSpec.model_validate(section)
    except ValidationError as error:
        message = format_validation_error(error, "spec field", prefix=field.split("."), root=PrunerSpec)
        raise UserError(message) from None
    return _pruner(wrapped, field)


def _yaml_options(constructor: type) -> dict[str, inspect.Parameter]:
    """Constructor arguments a spec may set: keyword arguments with YAML-writable types."""
    options = {}
    for parameter in inspect.signature(constructor).parameters.values():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if parameter.name in _SPEC_OWNED:
            continue
        annotation = str(parameter.annotation)
        if any(word in annotation for word in _OBJECT_TYPES):
            continue
        options[parameter.name] = parameter
    return options


def _check_options(constructor: type, options: Mapping[str, Any], field: str, name: str) -> None:
    valid = _yaml_options(constructor)
    for option in options:
        if option in _SPEC_OWNED:
            raise UserError(f"spec field '{field}.options.{option}': set it as {_SPEC_OWNED[option]}, not as an option")
        if option not in valid:
            raise UserError(
                f"spec field '{field}.options.{option}': {name} has no such option; valid: {', '.join(valid) or 'none'}"
            )
    required = [option for option, parameter in valid.items() if parameter.default is inspect.Parameter.empty]
    missing = [option for option in required if option not in options]
    if missing:
        raise UserError(f"spec field '{field}.options': {name} needs option(s) {', '.join(missing)}")


def _construct(constructor: type, options: dict[str, Any], field: str, name: str) -> Any:
    try:
        return constructor(**options)
    except (TypeError, ValueError) as error:
        raise UserError(f"spec field '{field}.options': {name} rejects its options: {error}") from None


@dataclass(frozen=True)
class SpecCheck:
    """What validating a spec against its model found: the model's tasks and the metrics a trial reports."""

    tasks: tuple[str, ...]
    metrics: frozenset[str]


def check_spec(spec: SweepSpec) -> SpecCheck:
    """Check a spec against its model: tasks named in the space, strategy arguments, the objective metrics.

    Builds the base trial's components once on the CPU (cheap at tiny size), constructs each
    strategy and normalizer the space can produce, and evaluates the untrained model once to
    learn the metric names, so errors surface here, not in a trial.
    """
    components = _build_on_cpu(spec.trial)
    _check_task_names(spec.space, components.tasks)
    _check_constructible(spec, components.tasks)
    metrics = frozenset(_metric_names(components, spec.trial.diagnostics))
    for index, metric in enumerate(spec.metrics):
        if metric not in metrics:
            field = "objective.metric" if not spec.is_multi_objective else f"objective.{index}.metric"
            examples = sorted(name for name in metrics if name.startswith("val/") and "/loss/" not in name)
            raise UserError(
                f"spec field '{field}': the trial never reports {metric!r}; use e.g. {', '.join(examples[:6])} "
                f"(or any of the {len(metrics)} train/ and val/ metrics in the README)"
            )
    return SpecCheck(tuple(components.tasks), metrics)


def reported_metrics(trial: TrialConfig) -> set[str]:
    """The metric names a trial of ``trial`` reports (train, diagnostics, validation, bookkeeping)."""
    return _metric_names(_build_on_cpu(trial), trial.diagnostics)


def _build_on_cpu(trial: TrialConfig) -> Any:
    import torch

    from weightsearch.trial.plugin import build_components

    try:
        return build_components(
            trial.model, trial.options, seed=trial.seed, batch_size=trial.batch_size, device=torch.device("cpu")
        )
    except UserError as error:
        raise UserError(f"spec field 'trial': cannot build the model: {error}") from None


def _metric_names(components: Any, diagnostics: bool) -> set[str]:
    """Names the trainer reports: ``train/*`` per task, diagnostics, ``val/*`` from an evaluation, bookkeeping."""
    import torch

    from weightsearch.trial.evaluation import evaluate

    tasks = list(components.tasks)
    names = {f"train/{kind}/{task}" for kind in ("loss", "loss_norm", "weight", "contrib") for task in tasks}
    names |= {"train/loss/total", "step", "time/train_s"}
    if diagnostics:
        names |= {f"train/grad_norm/{task}" for task in tasks}
        names |= {f"train/grad_cos/{a}-{b}" for index, a in enumerate(tasks) for b in tasks[index + 1 :]}
    names |= set(evaluate(components, torch.device("cpu")))
    return names


def _check_task_names(space: SearchSpace, tasks: Sequence[str]) -> None:
    """A simplex over a strategy argument's per-task weights names only the model's tasks."""
    for strategy in space.strategy_names() or [None]:
        for leaf in space.leaves(strategy):
            if not (isinstance(leaf.node, Simplex) and leaf.path.startswith("strategy_params.")):
                continue
            unknown = [task for task in leaf.node.tasks if task not in tasks]
            if unknown:
                raise UserError(
                    f"space field '{'.'.join(leaf.where)}': unknown task {unknown[0]!r}; "
                    f"the model's tasks are {', '.join(tasks)}"
                )


def _check_constructible(spec: SweepSpec, tasks: Sequence[str]) -> None:
    """Every strategy and normalizer the space can produce accepts its arguments (at the space's extremes)."""
    from weightsearch.weighting import make_normalizer, make_strategy

    for params in spec.space.examples():
        config = spec.space.resolve(spec.trial, params)
        try:
            make_strategy(config.strategy, list(tasks), **config.strategy_params)
        except (UserError, ValueError, TypeError) as error:
            where = _origin(params, ("strategy", "strategy_params"))
            raise UserError(f"{where}: with arguments {config.strategy_params}: {error}") from None
        try:
            make_normalizer(config.normalization, list(tasks), **config.normalization_params)
        except (UserError, ValueError, TypeError) as error:
            where = _origin(params, ("normalization", "normalization_params"))
            raise UserError(f"{where}: {error}") from None


def _origin(params: dict[str, Any], fields: tuple[str, str]) -> str:
    """Where a rejected value came from: the space when it sampled one of ``fields``, else the base trial."""
    sampled = [path for path in params if path.split(".")[0] in fields]
    if not sampled:
        return f"spec field 'trial.{fields[0]}'"
    if fields[0] == "strategy" and "strategy" in params:
        return f"space field 'strategy.{params['strategy']}'"
    return f"space field 'parameters.{sampled[0]}'"


def _apply_override(data: dict[str, Any], override: str, spec_dir: Path) -> None:
    """Set one ``key.path=value`` (value read as YAML) in the raw spec, after checking the path exists."""
    key, separator, text = override.partition("=")
    if not separator or not key or any(not part for part in key.split(".")):
        raise UserError(f"--set {override!r}: write KEY=VALUE with a dotted key, e.g. --set trial.steps=300")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise UserError(
            f"--set {key}: value {text!r} is not valid YAML; quote strings with special characters"
        ) from None
    keys = key.split(".")
    _check_override_path(keys, override)
    node = data
    for index, part in enumerate(keys[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif keys[:index + 1] == ["space"] and isinstance(child, str):
            child = node[part] = read_yaml_mapping(find_space_file(child, spec_dir), "space file")
        elif not isinstance(child, dict):
            raise UserError(
                f"--set {key}: '{'.'.join(keys[:index + 1])}' holds a {type(child).__name__}, not a mapping; "
                "set it as a whole"
            )
        node = child
    node[keys[-1]] = value


def _check_override_path(keys: list[str], override: str) -> None:
    """Walk the spec's models along ``keys``; free-form mappings (options, the space's entries) end the check."""
    for index, key in enumerate(keys):
        model = model_at(SweepSpec, keys[:index])
        if model is None:
            return
        if key not in model.model_fields:
            where = ".".join(keys[:index]) or "the spec"
            raise UserError(
                f"--set {override.split('=')[0]}: {where} has no field {key!r}; valid: {', '.join(model.model_fields)}"
            )
