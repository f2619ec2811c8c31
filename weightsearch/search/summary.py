"""What a study holds, in brief: trial counts per state, the best trial(s) and a calibrated pruner's gate — for
`run` and `status`."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from weightsearch.contracts import ATTR_PARAMS, STUDY_ATTR_CALIBRATION


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
    # A calibrated pruner's gate as the study keeps it (``{}`` before its first finished trial); None: no gate.
    calibration: dict[str, Any] | None = None

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
            **({"calibration": self.calibration} if self.calibration is not None else {}),
        }


def summarize(study: optuna.Study, storage: str, metrics: list[str], *, calibrated: bool = False) -> StudySummary:
    """Summarize ``study`` (stored at the SQLAlchemy URL ``storage``) whose objectives are ``metrics``;
    ``calibrated``: its pruner is gated by calibration, whose per-step table is read too."""
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
        calibration=study.user_attrs.get(STUDY_ATTR_CALIBRATION, {}) if calibrated else None,
    )


def summary_lines(summary: StudySummary) -> list[str]:
    """The summary as text: counts per state, then the best trial(s) with their parameters."""
    counts = ", ".join(f"{state} {count}" for state, count in summary.counts.items()) or "no trials"
    lines = [f"trials   {sum(summary.counts.values())}: {counts}"]
    if summary.calibration is not None:
        lines += calibration_lines(summary.calibration)
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


def calibration_lines(table: dict[str, Any]) -> list[str]:
    """One line per evaluation step: how many never-judged finished trials, their Spearman ρ, trusted or not."""
    steps = table.get("steps", {})
    if not steps:
        return ["gate     no finished trial yet: the pruner waits for its calibration"]
    lines = [
        (f"gate     the pruner acts at steps where >= {table['min_complete']} finished trials never judged "
         f"give Spearman ρ >= {table['min_rho']:g} with their final objective")
    ]
    for step, entry in sorted(steps.items(), key=lambda item: int(item[0])):
        rho = "-" if entry["rho"] is None else f"{entry['rho']:+.2f}"
        trusted = "trusted" if entry["trusted"] else "not trusted"
        lines.append(f"           step {step:>6}: n {entry['n']:>3}, ρ {rho:>5}, {trusted}")
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
