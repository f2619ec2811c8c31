"""Optuna's sampler and pruner of a sweep spec, built from their names and checked keyword options."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import optuna
from pydantic import ValidationError

from weightsearch.config import PrunerSpec, SweepSpec, format_validation_error
from weightsearch.errors import UserError
from weightsearch.search.calibration import CalibratedPruner

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
    """The spec's pruner (``none`` for a multi-objective spec, which the spec already enforces), gated
    by a :class:`CalibratedPruner` when the section has ``calibrate``."""
    pruner = _pruner(spec.pruner, "pruner")
    calibrate = spec.pruner.calibrate
    if calibrate is None:
        return pruner
    return CalibratedPruner(pruner, min_complete=calibrate.min_complete, min_rho=calibrate.min_rho)


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
    if wrapped.calibrate is not None:
        raise UserError(f"spec field '{field}.calibrate': calibrate the outer pruner instead (pruner.calibrate)")
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
