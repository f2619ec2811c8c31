"""Live progress of a sweep: a compact table row on every state change (at most every few seconds)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any, TextIO

from optuna.trial import TrialState
from ray.tune import Callback
from ray.tune.experiment import Trial

from weightsearch.search.bridge import OptunaBridge

STATES = ("PENDING", "RUNNING", "COMPLETE", "PRUNED", "FAIL")


class SweepProgress(Callback):
    """Print trial counts by state, the best objective so far (with its trial number) and the elapsed time.

    A row is printed when the counts change, at most every ``min_interval_s``, and at least every
    ``heartbeat_s``; a failed trial also gets a line with its reason. The counts are the study's: a
    resume's Tune run holds only the trials it runs, so the trials finished before it are added.
    """

    def __init__(
        self, bridge: OptunaBridge, *, min_interval_s: float = 2.0, heartbeat_s: float = 30.0, stream: TextIO | None = None
    ) -> None:
        self.bridge = bridge
        self.min_interval_s = min_interval_s
        self.heartbeat_s = heartbeat_s
        self.stream = stream
        self._start = time.monotonic()
        self._last_print = float("-inf")
        self._last_counts: dict[str, int] | None = None
        self._best = "-"
        self._complete_seen = -1
        finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        self._earlier = Counter(t.state.name for t in bridge.study.get_trials(deepcopy=False, states=finished))

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        now = time.monotonic()
        if now - self._last_print < self.min_interval_s:
            return
        counts = self._counts(trials)
        if counts != self._last_counts or now - self._last_print >= self.heartbeat_s:
            self._print_row(counts, now)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        outcome = self.bridge.outcomes.get(trial.trial_id)
        if outcome is not None:
            self._write(f"trial {outcome.number} failed: {outcome.reason}")

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        counts = self._counts(trials)
        if counts != self._last_counts:
            self._print_row(counts, time.monotonic())

    def _counts(self, trials: list[Trial]) -> dict[str, int]:
        counts = {state: self._earlier[state] for state in STATES}
        for trial in trials:
            outcome = self.bridge.outcomes.get(trial.trial_id)
            if outcome is not None and outcome.state != "RUNNING":
                counts[outcome.state] += 1
            elif trial.status == Trial.PENDING:
                counts["PENDING"] += 1
            else:
                counts["RUNNING"] += 1
        return counts

    def _print_row(self, counts: dict[str, int], now: float) -> None:
        if self._last_counts is None:
            self._write(f"{'elapsed':>8} " + " ".join(f"{state.lower():>8}" for state in STATES) + "  best " + self._objective())
        if counts["COMPLETE"] != self._complete_seen:
            self._complete_seen = counts["COMPLETE"]
            self._best = self._best_so_far()
        elapsed = time.strftime("%H:%M:%S", time.gmtime(now - self._start))
        self._write(f"{elapsed:>8} " + " ".join(f"{counts[state]:>8}" for state in STATES) + f"  {self._best}")
        self._last_counts = counts
        self._last_print = now

    def _objective(self) -> str:
        return ", ".join(self.bridge.metrics)

    def _best_so_far(self) -> str:
        study = self.bridge.study
        if not any(trial.state.name == "COMPLETE" for trial in study.get_trials(deepcopy=False)):
            return "-"
        if self.bridge.multi_objective:
            return f"{len(study.best_trials)} trial(s) on the Pareto front"
        best = study.best_trial
        return f"{best.value:.6g} (trial {best.number})"

    def _write(self, line: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()
