"""Confirmation: train a plan's units as Ray trials (results kept in the study, so a second run or a
resume after a kill trains only what is missing) and rank the candidates with paired statistics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import optuna
from ray import tune

from weightsearch.config import SweepSpec
from weightsearch.contracts import CONFIG_TRIAL
from weightsearch.search.confirm_plan import Candidate, ConfirmationPlan, Unit, scale_fingerprint
from weightsearch.search.interrupt import InterruptStopper
from weightsearch.search.trainable import run_trial
from weightsearch.search.tuner import sweep_cluster
from weightsearch.stats import (
    PairedComparison,
    RankAgreement,
    SeedSummary,
    compare_paired,
    rank_agreement,
    summarize_seeds,
)

_UNIT = "unit"  # the config key naming a unit's study attribute


@dataclass(frozen=True)
class ConfirmedCandidate:
    """A candidate's confirmed figures: its seeds' summary and the paired comparison with each baseline."""

    candidate: Candidate
    summary: SeedSummary
    versus: dict[str, PairedComparison]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.candidate.key,
            "label": self.candidate.label,
            "kind": "baseline" if self.candidate.is_baseline else "searched",
            "trial_number": self.candidate.trial_number,
            "params": self.candidate.params,
            "search_value": self.candidate.search_value,
            "trial": self.candidate.trial.model_dump(mode="json", exclude={"seed"}),
            "summary": self.summary.to_json(),
            "versus": {name: comparison.to_json() for name, comparison in self.versus.items()},
        }


@dataclass(frozen=True)
class ConfirmationReport:
    """Every candidate ranked by its confirmed mean, and those that could not be confirmed (and why)."""

    sweep: str
    plan: ConfirmationPlan
    ranked: list[ConfirmedCandidate]
    incomplete: dict[str, str] = field(default_factory=dict)

    @property
    def searched(self) -> list[ConfirmedCandidate]:
        """The confirmed searched configurations, best confirmed first."""
        return [confirmed for confirmed in self.ranked if not confirmed.candidate.is_baseline]

    def agreement(self) -> RankAgreement | None:
        """ρ between the search's ranking and the confirmed one, with at least 3 confirmed searched configurations."""
        searched = self.searched
        if len(searched) < 3:
            return None
        return rank_agreement(
            [confirmed.candidate.search_value for confirmed in searched],
            [confirmed.summary.values for confirmed in searched],
        )

    def agreement_json(self) -> dict[str, Any] | None:
        agreement = self.agreement()
        if agreement is None:
            return None
        searched = self.searched
        sign = 1 if self.plan.minimize else -1
        search_best = min(searched, key=lambda confirmed: sign * confirmed.candidate.search_value)
        return {
            **agreement.to_json(),
            "search_best": search_best.candidate.label,
            "confirmed_best": searched[0].candidate.label,
            "search_best_is_confirmed_best": search_best is searched[0],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "sweep": self.sweep,
            "metric": self.plan.metric,
            "direction": "minimize" if self.plan.minimize else "maximize",
            "seeds": self.plan.seeds,
            "scale": self.plan.scale,
            "default_baseline": self.plan.default_baseline,
            "fingerprint": scale_fingerprint(self.plan.scale),
            "configurations": [confirmed.to_json() for confirmed in self.ranked],
            "incomplete": self.incomplete,
            "rank_agreement": self.agreement_json(),
        }


def run_confirmation(spec: SweepSpec, study: optuna.Study, plan: ConfirmationPlan) -> ConfirmationReport:
    """Train the plan's units not yet in the study (``max_concurrent`` at once), then report."""
    pending = [unit for unit in plan.units if unit.attr not in study.user_attrs]
    done = len(plan.units) - len(pending)
    print(f"confirm  {len(plan.candidates)} configurations x {len(plan.seeds)} seeds: "
          f"{done} runs already done, {len(pending)} to train", flush=True)
    if pending:
        with sweep_cluster(spec):
            _tuner(spec, study, plan, pending).fit()
    return confirmation_report(spec.name, plan, study.user_attrs)


def confirmation_report(sweep: str, plan: ConfirmationPlan, results: dict[str, Any]) -> ConfirmationReport:
    """Rank the candidates whose every seed has a value; the others are listed with what is missing."""
    values: dict[str, list[float]] = {}
    incomplete: dict[str, str] = {}
    for candidate in plan.candidates:
        units = [unit for unit in plan.units if unit.candidate is candidate]
        recorded = [results.get(unit.attr) for unit in units]
        errors = [f"seed {unit.seed}: {result['error']}" for unit, result in zip(units, recorded) if result and "error" in result]
        missing = [unit.seed for unit, result in zip(units, recorded) if result is None]
        if errors or missing:
            incomplete[candidate.label] = "; ".join(errors) or f"not trained on seeds {missing}"
        else:
            values[candidate.key] = [float(result["value"]) for result in recorded]
    baselines = [candidate for candidate in plan.candidates if candidate.is_baseline and candidate.key in values]
    ranked = [
        ConfirmedCandidate(
            candidate,
            summarize_seeds(values[candidate.key]),
            {
                baseline.label: compare_paired(values[candidate.key], values[baseline.key], minimize=plan.minimize)
                for baseline in baselines
                if baseline is not candidate
            },
        )
        for candidate in plan.candidates
        if candidate.key in values
    ]
    ranked.sort(key=lambda confirmed: confirmed.summary.mean if plan.minimize else -confirmed.summary.mean)
    return ConfirmationReport(sweep, plan, ranked, incomplete)


def _run_unit(config: dict[str, Any]) -> None:
    """The Ray trainable of one unit: the search's trainable on the unit's trial."""
    run_trial(config[_UNIT])


class _UnitRecorder(tune.Callback):
    """Keeps each finished unit's objective (or its failure) in the study, and prints one line per unit."""

    def __init__(self, study: optuna.Study, plan: ConfirmationPlan, units: list[Unit]) -> None:
        self.study = study
        self.metric = plan.metric
        self.units = {unit.attr: unit for unit in units}
        self.total = len(plan.units)
        self.finished = self.total - len(units)
        self.started = time.monotonic()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        value = (trial.last_result or {}).get(self.metric)
        if value is None:
            self._record(trial, {"error": f"the trial never reported {self.metric}"})
        else:
            self._record(trial, {"value": float(value)})

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial, {"error": "the trial failed (see its error.txt in the run directory)"})

    def _record(self, trial: Any, result: dict[str, Any]) -> None:
        attr = trial.config[_UNIT]["attr"]
        unit = self.units[attr]
        self.study.set_user_attr(attr, result)
        self.finished += 1
        shown = f"{self.metric} = {result['value']:.6g}" if "value" in result else f"failed: {result['error']}"
        elapsed = int(time.monotonic() - self.started)
        print(f"confirm  {self.finished}/{self.total}  {unit.candidate.label}, seed {unit.seed}: {shown} "
              f"({elapsed // 60}m{elapsed % 60:02d}s)", flush=True)


def _tuner(spec: SweepSpec, study: optuna.Study, plan: ConfirmationPlan, units: list[Unit]) -> tune.Tuner:
    configs = [{"attr": unit.attr, CONFIG_TRIAL: unit.trial.model_dump(mode="json")} for unit in units]
    trainable = tune.with_resources(_run_unit, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})
    return tune.Tuner(
        trainable,
        param_space={_UNIT: tune.grid_search(configs)},
        tune_config=tune.TuneConfig(max_concurrent_trials=spec.budget.max_concurrent, reuse_actors=True),
        run_config=tune.RunConfig(
            name=f"confirm-{scale_fingerprint(plan.scale)}",
            storage_path=str(spec.paths.ray_dir),
            callbacks=[_UnitRecorder(study, plan, units)],
            stop=InterruptStopper(),
            verbose=0,
            failure_config=tune.FailureConfig(fail_fast=False, max_failures=spec.budget.max_retries),
        ),
    )
