"""A pruner gated by calibration: the inner pruner acts only at steps whose ranking agrees with the final one.

At an evaluation step ``s`` the inner pruner is asked only when the gate is open at ``s``: at least
``min_complete`` finished trials have a value at ``s`` and Spearman's ρ between those values and
their final objective is at least ``min_rho``. Elsewhere the trial goes on. Co-training makes early
values mislead (a strong auxiliary often starts slower and ends better), so a pruner that trusts
every step kills the configurations worth finding; the gate lets it act only where the study itself
has shown that early values rank like final ones. (ρ compares one metric with itself at two steps,
so it is the same whether the study minimises or maximises.)

Survivor bias. A trial that finished after the inner pruner judged it is a survivor: the pruner
selected it on its value at that step, which is correlated with its value at every other step. On
such a range-restricted sample ρ is mostly attenuated, but in exactly the case the gate guards
against it is inflated: the late bloomers (worse early, best at the end) are the pairs that lower
ρ, and they are the trials the pruner removed. Counting survivors would then let the gate open at
ever earlier steps, each opening hiding the evidence against the next. So ρ is computed only on
trials the inner pruner never judged, at any step: the first trial to reach a step whose gate is
open is marked judged (study user attribute ``calibration_judged``) and leaves the calibration set
for good. The price: once pruning starts, new trials no longer add evidence, so the gate's state
is what the trials that ran to their end without being judged showed (those finishing in flight
still count) — raise ``min_complete`` for a larger sample.

State lives in the study's storage, so a resume keeps it: the per-step table (study user attribute
``calibration``, written when it changes) and the judged trials. Cost on Ray's driver loop: the
gate reads the study's trials once per trial, at its first report, and recomputes ρ only when more
trials are COMPLETE than before; its other calls read nothing. A trial finishing meanwhile shows at
the next trial's first report: while trials run side by side the gate may lag one evaluation behind
(run one at a time, as in plain Optuna's ``optimize``, it never lags).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from weightsearch.contracts import STUDY_ATTR_CALIBRATION, STUDY_ATTR_CALIBRATION_JUDGED
from weightsearch.stats import spearman_rho

MIN_COMPLETE_FLOOR = 3  # Spearman's ρ of two trials is always ±1


@dataclass(frozen=True)
class StepAgreement:
    """How well the objective at one step ranks the trials like their final objective: ``n`` trials, ρ."""

    n: int
    rho: float  # NaN when undefined (every value equal)

    def trusted(self, min_complete: int, min_rho: float) -> bool:
        return self.n >= min_complete and not math.isnan(self.rho) and self.rho >= min_rho


def step_agreement(trials: Iterable[FrozenTrial]) -> dict[int, StepAgreement]:
    """Spearman's ρ, per step, between COMPLETE ``trials``' intermediate values and their final values.

    Trials that are not COMPLETE and non-finite values are left out; the steps are those any trial reported.
    """
    pairs: dict[int, tuple[list[float], list[float]]] = {}
    for trial in trials:
        final = trial.value if trial.state == TrialState.COMPLETE else None
        if final is None or not math.isfinite(final):
            continue
        for step, value in trial.intermediate_values.items():
            if math.isfinite(value):
                early, late = pairs.setdefault(step, ([], []))
                early.append(value)
                late.append(final)
    return {step: StepAgreement(len(early), spearman_rho(early, late)) for step, (early, late) in sorted(pairs.items())}


def calibration_table(agreement: dict[int, StepAgreement], min_complete: int, min_rho: float) -> dict[str, Any]:
    """The JSON form kept in the study attribute ``calibration`` (read by `status` and the MLflow recorder)."""
    return {
        "min_complete": min_complete,
        "min_rho": min_rho,
        "steps": {
            str(step): {
                "n": entry.n,
                "rho": None if math.isnan(entry.rho) else entry.rho,
                "trusted": entry.trusted(min_complete, min_rho),
            }
            for step, entry in agreement.items()
        },
    }


class CalibratedPruner(optuna.pruners.BasePruner):
    """Ask ``inner`` whether to prune only at steps where ≥ ``min_complete`` never-judged finished trials
    give Spearman ρ ≥ ``min_rho`` between their value there and their final objective (see the module docstring).

    One instance serves one study (it caches that study's calibration). Single-objective studies only,
    like every Optuna pruner.
    """

    def __init__(self, inner: optuna.pruners.BasePruner, min_complete: int = 6, min_rho: float = 0.8) -> None:
        if isinstance(min_complete, bool) or not isinstance(min_complete, int) or min_complete < MIN_COMPLETE_FLOOR:
            raise ValueError(f"min_complete must be an integer >= {MIN_COMPLETE_FLOOR}, got {min_complete!r}")
        if not -1.0 <= min_rho <= 1.0:
            raise ValueError(f"min_rho must be in [-1, 1], got {min_rho!r}")
        self.inner = inner
        self.min_complete = min_complete
        self.min_rho = float(min_rho)
        self._study: optuna.Study | None = None
        self._reported: set[int] = set()  # trials whose first report refreshed the calibration
        self._judged: dict[str, int] = {}  # trial number (str, as stored) -> the first step judged
        self._table: dict[str, Any] | None = None  # as stored
        self._counted = -1  # COMPLETE trials when the table was last computed
        self._open: frozenset[int] = frozenset()

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        if self._study is not study:
            self._load(study)
        if trial.number not in self._reported:
            self._refresh(study)
            self._reported.add(trial.number)
        if step not in self._open:
            return False
        if str(trial.number) not in self._judged:
            judged = {**self._judged, str(trial.number): step}
            study.set_user_attr(STUDY_ATTR_CALIBRATION_JUDGED, judged)
            self._judged = judged  # only once stored: a failed write leaves the trial unjudged and unpruned
        return self.inner.prune(study, trial)

    def _load(self, study: optuna.Study) -> None:
        """Read what the study kept (a resume) the first time this pruner sees ``study``."""
        attrs = study.user_attrs
        self._judged = dict(attrs.get(STUDY_ATTR_CALIBRATION_JUDGED, {}))
        self._table = attrs.get(STUDY_ATTR_CALIBRATION)
        self._counted = -1
        self._open = frozenset()
        self._reported = set()
        self._study = study

    def _refresh(self, study: optuna.Study) -> None:
        """Recompute the per-step agreement when more trials are COMPLETE than last time; store it when it changed."""
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(complete) == self._counted:
            return
        unjudged = [trial for trial in complete if str(trial.number) not in self._judged]
        table = calibration_table(step_agreement(unjudged), self.min_complete, self.min_rho)
        if table != self._table:
            study.set_user_attr(STUDY_ATTR_CALIBRATION, table)
            self._table = table
        self._counted = len(complete)
        self._open = frozenset(int(step) for step, entry in table["steps"].items() if entry["trusted"])
