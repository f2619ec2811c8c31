"""What a study holds, in brief: trial counts per state and the best trial(s) — for `run` and `status`."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from weightsearch.contracts import ATTR_PARAMS


@dataclass(frozen=True)
class BestTrial:
    """A best trial: its number, objective value(s) and sampled parameters (TrialConfig paths)."""

    number: int
    values: list[float]
    params: dict[str, Any]


@dataclass(frozen=True)
class StudySummary:
    """Counts per Optuna state name and the best trial (single objective) or the Pareto front (several)."""

    study: str
    storage: str
    metrics: list[str]
    directions: list[str]
    counts: dict[str, int]
    best: list[BestTrial]

    def to_json(self) -> dict[str, Any]:
        """The `status --format json` object; ``best`` is one trial, a list (several objectives) or null."""
        best: Any = [_trial_json(trial, self.metrics) for trial in self.best]
        if len(self.metrics) == 1:
            best = best[0] if best else None
        return {
            "study": self.study,
            "storage": self.storage,
            "metrics": self.metrics,
            "directions": self.directions,
            "counts": self.counts,
            "best": best,
        }


def summarize(study: optuna.Study, storage: str, metrics: list[str]) -> StudySummary:
    """Summarize ``study`` (stored at the SQLAlchemy URL ``storage``) whose objectives are ``metrics``."""
    trials = study.get_trials(deepcopy=False)
    counts = Counter(trial.state.name for trial in trials)
    finished = [trial for trial in trials if trial.state == TrialState.COMPLETE]
    best = study.best_trials if finished else []
    return StudySummary(
        study=study.study_name,
        storage=storage,
        metrics=list(metrics),
        directions=[direction.name.lower() for direction in study.directions],
        counts={state.name: counts[state.name] for state in TrialState if counts[state.name]},
        best=[BestTrial(trial.number, list(trial.values), trial.user_attrs.get(ATTR_PARAMS, trial.params)) for trial in best],
    )


def summary_lines(summary: StudySummary) -> list[str]:
    """The summary as text: counts per state, then the best trial(s) with their parameters."""
    counts = ", ".join(f"{state} {count}" for state, count in summary.counts.items()) or "no trials"
    lines = [f"trials   {sum(summary.counts.values())}: {counts}"]
    if not summary.best:
        return [*lines, "best     - (no trial completed)"]
    if len(summary.metrics) == 1:
        best = summary.best[0]
        lines.append(f"best     {summary.metrics[0]} = {best.values[0]:.6g} (trial {best.number}, {summary.directions[0]})")
        lines += [f"           {path} = {_short(value)}" for path, value in best.params.items()]
        return lines
    lines.append(f"best     {len(summary.best)} trial(s) on the Pareto front of {', '.join(summary.metrics)}")
    for best in summary.best:
        values = ", ".join(f"{value:.6g}" for value in best.values)
        lines.append(f"           trial {best.number}: ({values})  " + ", ".join(f"{k}={_short(v)}" for k, v in best.params.items()))
    return lines


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _trial_json(trial: BestTrial, metrics: list[str]) -> dict[str, Any]:
    data = asdict(trial)
    values = data.pop("values")
    if len(metrics) == 1:
        data["value"] = values[0]
    else:
        data["values"] = dict(zip(metrics, values))
    return data
