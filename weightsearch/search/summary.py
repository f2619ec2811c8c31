"""What a study holds, in brief: trial counts per state, the best trial(s) and a calibrated pruner's gate — for
`run` and `status`."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from weightsearch.contracts import ATTR_PARAMS, STUDY_ATTR_CALIBRATION
from weightsearch.pareto import pareto_levels

if TYPE_CHECKING:
    import optuna

#: Optuna's trial states in its own order (``optuna.trial.TrialState``), the order counts are shown in.
TRIAL_STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")


@dataclass(frozen=True)
class StoredTrial:
    """What a summary needs of one trial: number, Optuna state name, objective values, sampled parameters."""

    number: int
    state: str
    values: list[float]
    params: dict[str, Any]


@dataclass(frozen=True)
class StoredStudy:
    """What a summary needs of a study, read by Optuna (:func:`snapshot`) or straight from its SQLite file."""

    name: str
    directions: list[str]  # "minimize" | "maximize", one per objective
    trials: list[StoredTrial]
    user_attrs: dict[str, Any]


def snapshot(study: optuna.Study) -> StoredStudy:
    """``study`` as a :class:`StoredStudy` (its trials' parameters: our ``params`` user attribute, else Optuna's)."""
    return StoredStudy(
        name=study.study_name,
        directions=[direction.name.lower() for direction in study.directions],
        trials=[
            StoredTrial(trial.number, trial.state.name, list(trial.values or []), trial.user_attrs.get(ATTR_PARAMS, trial.params))
            for trial in study.get_trials(deepcopy=False)
        ],
        user_attrs=study.user_attrs,
    )


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


def summarize(study: StoredStudy, storage: str, metrics: list[str], *, calibrated: bool = False) -> StudySummary:
    """Summarize ``study`` (stored at the SQLAlchemy URL ``storage``) whose objectives are ``metrics``;
    ``calibrated``: its pruner is gated by calibration, whose per-step table is read too."""
    counts = Counter(trial.state for trial in study.trials)
    return StudySummary(
        study=study.name,
        storage=storage,
        metrics=list(metrics),
        directions=study.directions,
        counts={state: counts[state] for state in TRIAL_STATES if counts[state]},
        best=[BestTrial(trial.number, trial.values, trial.params) for trial in _best_trials(study)],
        calibration=study.user_attrs.get(STUDY_ATTR_CALIBRATION, {}) if calibrated else None,
    )


def _best_trials(study: StoredStudy) -> list[StoredTrial]:
    """The best COMPLETE trial (the lowest number among equals), or the Pareto front by number with several objectives."""
    signs = [1.0 if direction == "minimize" else -1.0 for direction in study.directions]
    costs = {trial.number: [sign * value for sign, value in zip(signs, trial.values)]
             for trial in study.trials if trial.state == "COMPLETE"}
    by_number = {trial.number: trial for trial in study.trials}
    if len(signs) == 1:
        return [by_number[min(costs, key=lambda number: (costs[number][0], number))]] if costs else []
    levels = pareto_levels(costs)
    return [by_number[number] for number in sorted(costs) if levels[number] == 0]


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
