"""What a confirmation trains: the search's best configurations and the baselines, each on the same
fresh seeds, at the search's scale or another one (``--set trial.KEY=VALUE``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from weightsearch.config import SweepSpec, TrialConfig
from weightsearch.config.trial import with_changes, with_fields
from weightsearch.contracts import ATTR_PARAMS, STUDY_ATTR_CONFIRM
from weightsearch.errors import UserError

SEED_OFFSET = 10_000
"""Confirmation seeds are ``trial.seed + 10_000 + i``: fresh, never those a search trial trained with."""
EQUAL = "equal"


@dataclass(frozen=True)
class Candidate:
    """A configuration to confirm: a searched trial (``trial-<number>``) or a baseline (``baseline-<name>``)."""

    key: str
    label: str
    trial_number: int | None  # None for a baseline
    trial: TrialConfig
    params: dict[str, Any]
    search_value: float | None

    @property
    def is_baseline(self) -> bool:
        return self.trial_number is None


@dataclass(frozen=True)
class Unit:
    """One training run of a confirmation: a candidate on one seed, its result kept in a study user attr."""

    candidate: Candidate
    seed: int
    attr: str

    @property
    def trial(self) -> TrialConfig:
        return self.candidate.trial.model_copy(update={"seed": self.seed})


@dataclass(frozen=True)
class ConfirmationPlan:
    """The candidates, the paired seeds and the scale (trial changes) of one confirmation."""

    metric: str
    minimize: bool
    seeds: list[int]
    scale: dict[str, Any]
    candidates: list[Candidate]
    default_baseline: str

    @property
    def units(self) -> list[Unit]:
        fingerprint = scale_fingerprint(self.scale)
        return [
            Unit(candidate, seed, f"{STUDY_ATTR_CONFIRM}{fingerprint}:{candidate.key}:{seed}")
            for candidate in self.candidates
            for seed in self.seeds
        ]


def plan_confirmation(
    spec: SweepSpec,
    study: optuna.Study,
    *,
    top: int,
    seeds: int,
    baselines: Sequence[str] | None,
    changes: Sequence[str],
    tasks: Sequence[str],
    model_baselines: Mapping[str, Mapping[str, Any]],
) -> ConfirmationPlan:
    """The plan for confirming ``study``'s ``top`` COMPLETE trials against ``baselines`` on ``seeds`` seeds.

    ``changes`` are ``trial.KEY=VALUE`` settings applied to every candidate (another scale);
    ``baselines`` None means the spec's, else ``equal`` and the model's own (the reference: ``aux_off``).
    """
    if top < 1:
        raise UserError(f"--top: must be >= 1 (got {top}); confirm at least the best configuration")
    if seeds < 2:
        raise UserError(f"--seeds: an interval needs at least 2 seeds (got {seeds}); 8 or more separate noisy cells")
    if spec.is_multi_objective:
        raise UserError("objective: confirmation ranks one objective; this sweep has several")
    scale = _scale(changes)
    available = _baselines(spec, tasks, model_baselines)
    chosen = list(baselines) if baselines else (list(spec.baselines) or list(available))
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise UserError(f"--baseline: unknown baseline {unknown[0]!r}; available: {', '.join(available)}")
    minimize = spec.objective[0].mode == "min"
    best = _best_trials(study, top, minimize, spec.name)
    candidates = [
        Candidate(
            f"trial-{trial.number}",
            f"trial {trial.number}",
            trial.number,
            _at_scale(spec.space.resolve(spec.trial, trial.user_attrs.get(ATTR_PARAMS, {})), scale),
            dict(trial.user_attrs.get(ATTR_PARAMS, {})),
            float(trial.values[0]),
        )
        for trial in best
    ]
    candidates += [
        Candidate(f"baseline-{name}", name, None, _at_scale(available[name], scale), {}, None) for name in chosen
    ]
    first_seed = spec.trial.seed + SEED_OFFSET
    return ConfirmationPlan(
        spec.metrics[0], minimize, list(range(first_seed, first_seed + seeds)), scale, candidates, chosen[0]
    )


def scale_fingerprint(scale: Mapping[str, Any]) -> str:
    """``base`` for the search's own scale, else a short digest of the changes (results at two scales never mix)."""
    if not scale:
        return "base"
    return hashlib.sha1(json.dumps(scale, sort_keys=True).encode()).hexdigest()[:10]


def _best_trials(study: optuna.Study, top: int, minimize: bool, name: str) -> list[optuna.trial.FrozenTrial]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise UserError(f"sweep {name!r} has no COMPLETE trial to confirm; run or resume it first")
    ranked = sorted(complete, key=lambda trial: (trial.values[0] if minimize else -trial.values[0], trial.number))
    return ranked[:top]


def _baselines(
    spec: SweepSpec, tasks: Sequence[str], model_baselines: Mapping[str, Mapping[str, Any]]
) -> dict[str, TrialConfig]:
    """Every baseline this sweep can confirm against: the spec's, ``equal`` and the model's own."""
    equal = {"strategy": "fixed", "strategy_params": {"weights": {task: 1.0 for task in tasks}}}
    available = {EQUAL: with_fields(spec.trial, equal)}
    available |= {name: with_fields(spec.trial, fields) for name, fields in model_baselines.items()}
    available |= {name: spec.baseline_trial(name) for name in spec.baselines}
    return available


def _scale(changes: Sequence[str]) -> dict[str, Any]:
    """``trial.KEY=VALUE`` settings as ``{dotted key below trial: value}``, checked against TrialConfig."""
    scale: dict[str, Any] = {}
    for change in changes:
        key, separator, text = change.partition("=")
        path = key.split(".")
        if not separator or path[0] != "trial" or len(path) < 2 or not all(path):
            raise UserError(f"--set {change!r}: write trial.KEY=VALUE, e.g. --set trial.steps=1600")
        if path[1] not in TrialConfig.model_fields:
            raise UserError(
                f"--set {key}: the trial has no field {path[1]!r}; valid: {', '.join(TrialConfig.model_fields)}"
            )
        try:
            scale[".".join(path[1:])] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UserError(f"--set {key}: value {text!r} is not valid YAML") from None
    return scale


def _at_scale(trial: TrialConfig, scale: Mapping[str, Any]) -> TrialConfig:
    """``trial`` with the scale's changes (dotted keys reach into mappings such as ``options.size``)."""
    try:
        return with_changes(trial, scale)
    except ValueError as error:
        raise UserError(f"--set trial {error}") from None
