"""The driver-side link between Ray trial ids and the trials of one Optuna study (ask, report, tell).

The searcher asks, the pruning scheduler reports and prunes, the searcher tells the end: all of it
goes through one :class:`OptunaBridge`, so every Optuna state change is made in one place and
mirrored into :class:`~weightsearch.search.outcomes.TrialOutcomes` before Ray calls its callbacks.

All of it runs on Ray's driver loop, which also carries every trial's results, so a storage call
never sleeps there for long: it is tried :data:`STORAGE_ATTEMPTS` times within tens of
milliseconds (:func:`with_storage_retries`). A write that still fails (an intermediate value, a
user attribute, a tell) is kept, in order, and tried again on later turns of the loop, without
sleeping (:class:`StorageRetry`); the trials train on meanwhile. So a database locked or
unreachable for a moment (SQLite under a reader, a restarting PostgreSQL) neither ends the sweep
nor stalls it; one that stays down for :data:`KEPT_GIVE_UP_S` ends it with the storage's error.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import optuna
from optuna.exceptions import StorageInternalError
from optuna.trial import TrialState
from ray.tune import Callback
from sqlalchemy.exc import OperationalError

from weightsearch.contracts import ATTR_FAIL_REASON, ATTR_RETRIES, ATTR_SEED_VALUES, ATTR_STOP_REASON, seed_values
from weightsearch.search.outcomes import TrialOutcomes

logger = logging.getLogger(__name__)

# What a study storage raises when the database is locked or unreachable (worth another try).
STORAGE_ERRORS = (StorageInternalError, OperationalError)
# On the driver loop: 3 tries, 10 then 20 ms apart, so at most 30 ms asleep per storage call.
STORAGE_ATTEMPTS = 3
STORAGE_FIRST_DELAY_S = 0.01
# Writes kept after those tries: tried again 0.25 s later, then at doubling intervals up to 4 s,
# each time on a turn of the driver loop (no sleep); the sweep ends when none lands for 60 s.
KEPT_RETRY_FIRST_S = 0.25
KEPT_RETRY_MAX_S = 4.0
KEPT_GIVE_UP_S = 60.0
_Result = TypeVar("_Result")


class StorageUnavailable(RuntimeError):
    """The study storage failed every try of a call whose answer is needed at once (a new trial).

    A searcher can answer Ray "no trial yet" (``suggest`` returns None): Ray asks again on a later
    turn of its loop.
    """


class OptunaBridge:
    """Ask/report/tell on ``study`` on behalf of Ray trials, recording each decision in ``outcomes``."""

    def __init__(self, study: optuna.Study, metrics: Sequence[str]) -> None:
        if len(metrics) != len(study.directions):
            raise ValueError(f"{len(metrics)} objective metrics for a study with {len(study.directions)} directions")
        self.study = study
        self.metrics = tuple(metrics)
        self.outcomes = TrialOutcomes()
        self._asked: dict[str, optuna.trial.Trial] = {}
        self._numbers: dict[str, int] = {}
        self._reported: dict[str, set[int]] = {}  # steps with an intermediate value, per Ray trial
        self._failure_reasons: dict[str, str] = {}
        self._retries: dict[str, int] = {}
        self._kept = _KeptWrites()

    @property
    def multi_objective(self) -> bool:
        return len(self.metrics) > 1

    def ask(self, ray_trial_id: str) -> optuna.trial.Trial:
        """A new Optuna trial for ``ray_trial_id`` (state RUNNING until told otherwise).

        Raises :class:`StorageUnavailable` when the storage fails every try.
        """
        try:
            trial = with_storage_retries(self.study.ask)
        except STORAGE_ERRORS as error:
            raise StorageUnavailable(f"the study storage cannot create a trial now: {_first_line(error)}") from error
        self._asked[ray_trial_id] = trial
        self._numbers[ray_trial_id] = trial.number
        self._reported[ray_trial_id] = set()
        self.outcomes.record(ray_trial_id, trial.number, "RUNNING")
        return trial

    def adopt(self, ray_trial_id: str, number: int) -> optuna.trial.Trial:
        """Give ``ray_trial_id`` the study's RUNNING trial ``number`` (a resume continues it under a new Ray id).

        Raises :class:`StorageUnavailable` when the storage fails every try.
        """
        try:
            trials = with_storage_retries(lambda: self.study.get_trials(deepcopy=False))
            frozen = next(trial for trial in trials if trial.number == number)
            if frozen.state != TrialState.RUNNING:
                raise ValueError(f"Optuna trial {number} is {frozen.state.name}, not RUNNING: it cannot be continued")
            trial = with_storage_retries(lambda: _live_trial(self.study, frozen))
        except STORAGE_ERRORS as error:
            raise StorageUnavailable(f"the study storage cannot reopen trial {number} now: {_first_line(error)}") from error
        self._asked[ray_trial_id] = trial
        self._numbers[ray_trial_id] = number
        self._reported[ray_trial_id] = set(frozen.intermediate_values)
        self.outcomes.record(ray_trial_id, number, "RUNNING")
        return trial

    def backfill(self, number: int, value: float, step: int) -> None:
        """Store ``value`` at ``step`` of RUNNING trial ``number`` unless the study has it already.

        A driver killed after Ray stored a trial's checkpoint but before the trial's report reached the
        study leaves that step missing; a resume puts it back from the checkpoint before continuing.
        """
        trials = with_storage_retries(lambda: self.study.get_trials(deepcopy=False))
        frozen = next(trial for trial in trials if trial.number == number)
        if self.multi_objective or frozen.state != TrialState.RUNNING or step in frozen.intermediate_values:
            return
        with_storage_retries(lambda: _live_trial(self.study, frozen).report(value, step))

    def report(self, ray_trial_id: str, value: float, step: int) -> bool:
        """Store ``value`` as the intermediate value at ``step``; prune and return True if the pruner says so.

        Multi-objective studies are never pruned (Optuna cannot). While the storage fails, the value
        is kept for later and the trial goes on: a later result decides about pruning.
        """
        trial = self._running(ray_trial_id)
        if trial is None or self.multi_objective:
            return False
        # A trial continued from an older checkpoint (a retry, a resume) reports some steps again: the first
        # value stays, as Optuna would keep it, without Optuna's warning in the sweep's terminal.
        reported = self._reported.setdefault(ray_trial_id, set())
        if step not in reported:
            reported.add(step)
            if not self._store(f"step {step} of trial {trial.number}", lambda: trial.report(value, step)):
                return False
        try:
            prune = with_storage_retries(trial.should_prune)
        except STORAGE_ERRORS as error:
            logger.warning("Optuna storage failed (%s); trial %d goes on, a later result decides about pruning",
                           _first_line(error), trial.number)
            return False
        if not prune:
            return False
        self._finish(ray_trial_id, TrialState.PRUNED)
        return True

    def note_failure(self, ray_trial_id: str, reason: str) -> None:
        """Remember why a trial errored, for :meth:`fail` (Ray gives the reason to the scheduler only)."""
        self._failure_reasons[ray_trial_id] = reason

    def fail(self, ray_trial_id: str, reason: str | None = None) -> None:
        """Tell FAIL with the reason kept as the Optuna user attribute ``fail_reason``."""
        trial = self._running(ray_trial_id)
        if trial is None:
            return
        reason = reason or self._failure_reasons.pop(ray_trial_id, None) or "the trial raised an error"
        self._store(f"the fail reason of trial {trial.number}", lambda: trial.set_user_attr(ATTR_FAIL_REASON, reason))
        self._finish(ray_trial_id, TrialState.FAIL, reason=reason)

    def complete(self, ray_trial_id: str, result: Mapping[str, object] | None) -> None:
        """Tell COMPLETE with the objective value(s) of the final result, or FAIL when one is missing or not finite.

        A multi-seed trial's per-seed objective values go into the user attribute ``seed_values`` first.
        """
        trial = self._running(ray_trial_id)
        if trial is None:
            return
        values = [(result or {}).get(metric) for metric in self.metrics]
        bad = [m for m, v in zip(self.metrics, values) if not isinstance(v, (int, float)) or not math.isfinite(v)]
        if bad:
            self.fail(ray_trial_id, f"objective {bad[0]!r} missing or not finite in the final result")
            return
        per_seed = {metric: seed_values(result or {}, metric) for metric in self.metrics}
        if any(per_seed.values()):
            self._store(f"the seed values of trial {trial.number}",
                        lambda: trial.set_user_attr(ATTR_SEED_VALUES, per_seed))
        self._finish(ray_trial_id, TrialState.COMPLETE, values=[float(v) for v in values])  # type: ignore[arg-type]

    def prune(self, ray_trial_id: str, reason: str) -> None:
        """Tell PRUNED for a trial stopped from outside the pruner (the sweep's time budget ran out)."""
        trial = self._running(ray_trial_id)
        if trial is None:
            return
        self._store(f"the stop reason of trial {trial.number}", lambda: trial.set_user_attr(ATTR_STOP_REASON, reason))
        self._finish(ray_trial_id, TrialState.PRUNED, reason=reason)

    def note_retry(self, ray_trial_id: str) -> None:
        """Count one more retry of the trial (Ray restarts it from its checkpoint) in its user attribute ``retries``."""
        trial = self._running(ray_trial_id)
        if trial is None:
            return
        if ray_trial_id not in self._retries:  # earlier runs of the sweep counted theirs
            try:
                self._retries[ray_trial_id] = with_storage_retries(lambda: trial.user_attrs.get(ATTR_RETRIES, 0))
            except STORAGE_ERRORS:
                self._retries[ray_trial_id] = 0
        retries = self._retries[ray_trial_id] = self._retries[ray_trial_id] + 1
        self._store(f"the retries of trial {trial.number}", lambda: trial.set_user_attr(ATTR_RETRIES, retries))

    def retry_kept_writes(self) -> bool:
        """Try the writes kept while the storage failed, if their backoff is due (no sleep); True when none is left.

        Raises the storage's error once none has landed for :data:`KEPT_GIVE_UP_S`.
        """
        return self._kept.retry()

    def flush(self) -> None:
        """Store every kept write, sleeping between tries (for the end of the sweep, when nothing waits on the loop)."""
        self._kept.flush()

    def links(self) -> dict[str, int]:
        """Ray trial id -> Optuna trial number for every trial asked so far."""
        return dict(self._numbers)

    def running_ids(self) -> list[str]:
        """Ray trial ids whose Optuna trial has not been told an end yet."""
        return [ray_id for ray_id in self._numbers if self._running(ray_id) is not None]

    def _finish(
        self, ray_trial_id: str, state: TrialState, *, values: list[float] | None = None, reason: str | None = None
    ) -> None:
        """Tell ``state`` to the study (or keep the tell for later), record it (callbacks read it next), drop the handle."""
        trial = self._asked.pop(ray_trial_id)
        self._reported.pop(ray_trial_id, None)
        self._store(f"the end ({state.name}) of trial {trial.number}", lambda: _tell(self.study, trial, values, state))
        self.outcomes.record(ray_trial_id, trial.number, state.name, reason)  # type: ignore[arg-type]

    def _store(self, what: str, write: Callable[[], object]) -> bool:
        """Apply ``write`` now, after any kept before it, or keep it for later; True when it is stored now."""
        if self._kept.retry():
            try:
                with_storage_retries(write)
                return True
            except STORAGE_ERRORS as error:
                self._kept.keep(what, write, error)
                return False
        self._kept.keep(what, write)  # behind the writes still waiting: the study gets them in order
        return False

    def _running(self, ray_trial_id: str) -> optuna.trial.Trial | None:
        outcome = self.outcomes.get(ray_trial_id)
        if outcome is None or outcome.state != "RUNNING":
            return None
        return self._asked.get(ray_trial_id)


def _live_trial(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> optuna.trial.Trial:
    """A reporting handle on an existing RUNNING trial (a resume continues it under its own number).

    Private API, on purpose: Optuna hands out live ``Trial`` objects only from ``study.ask()``,
    which always creates a new trial, and ``study.tell(number)`` ends a trial but cannot report to
    it, ask whether to prune it or re-suggest its parameters. So this builds ``Trial(study,
    trial_id)`` (documented, "not recommended") from ``FrozenTrial._trial_id`` (private).
    tests/test_private_apis.py fails on an Optuna upgrade that changes either.
    """
    return optuna.trial.Trial(study, frozen._trial_id)  # noqa: SLF001


def with_storage_retries(call: Callable[[], _Result]) -> _Result:
    """``call()``, tried again after 10 and 20 ms when the study storage fails; the last failure is raised.

    Short on purpose: the caller is Ray's driver loop (see the module docstring for what follows).
    """
    delay = STORAGE_FIRST_DELAY_S
    for attempt in range(1, STORAGE_ATTEMPTS + 1):
        try:
            return call()
        except STORAGE_ERRORS as error:
            if attempt == STORAGE_ATTEMPTS:
                raise
            logger.info("Optuna storage failed (%s); trying again in %.0f ms", _first_line(error), delay * 1000)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


class _KeptWrites:
    """Study writes the storage refused on the driver loop, in order, tried again later without sleeping."""

    def __init__(self) -> None:
        self._writes: deque[tuple[str, Callable[[], object]]] = deque()
        self._delay = KEPT_RETRY_FIRST_S
        self._next_try = 0.0
        self._waiting_since = 0.0  # since when no kept write has landed
        self._error: BaseException | None = None

    def __len__(self) -> int:
        return len(self._writes)

    def keep(self, what: str, write: Callable[[], object], error: BaseException | None = None) -> None:
        now = time.monotonic()
        if not self._writes:
            logger.warning(
                "Optuna storage failed (%s): %s and later writes are kept and tried again every few seconds; "
                "the trials go on", _first_line(error) if error else "unavailable", what,
            )
            self._delay, self._next_try, self._waiting_since = KEPT_RETRY_FIRST_S, now + KEPT_RETRY_FIRST_S, now
        self._writes.append((what, write))
        self._error = error or self._error

    def retry(self, *, now_due: bool = False) -> bool:
        """Apply the kept writes in order, one try each, when due (or ``now_due``); True when none is left."""
        if not self._writes:
            return True
        now = time.monotonic()
        if not now_due and now < self._next_try:
            return False
        stored = 0
        while self._writes:
            what, write = self._writes[0]
            try:
                write()
            except STORAGE_ERRORS as error:
                self._error = error
                if now - self._waiting_since >= KEPT_GIVE_UP_S:
                    logger.error("Optuna storage failed for %.0f s; %d writes from %s on are lost",
                                 now - self._waiting_since, len(self._writes), what)
                    raise
                self._delay = min(self._delay * 2, KEPT_RETRY_MAX_S)
                self._next_try = now + self._delay
                return False
            self._writes.popleft()
            stored += 1
            self._waiting_since = now = time.monotonic()
        logger.warning("Optuna storage is back: %d kept writes stored", stored)
        return True

    def flush(self) -> None:
        """Retry until every kept write is stored, sleeping between tries; raises as :meth:`retry` does."""
        while not self.retry(now_due=True):
            time.sleep(self._delay)


class StorageRetry(Callback):
    """Drives a bridge's kept writes from Ray's loop: a try when due at each step, all of them at the end.

    Listed right after the time budget (whose end closes trials through the bridge) and before the
    callbacks that read the study at the end of the experiment.
    """

    def __init__(self, bridge: OptunaBridge) -> None:
        self.bridge = bridge

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        self.bridge.retry_kept_writes()

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self.bridge.flush()


class TrialRetries(Callback):
    """Counts Ray's retries of each trial in the study (Ray tells only the callbacks, ``on_trial_recover``).

    Listed before the MLflow recorder, which copies the count into its run.
    """

    def __init__(self, bridge: OptunaBridge) -> None:
        self.bridge = bridge

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.bridge.note_retry(trial.trial_id)


# Samplers that end the study (``study.stop()``) once their grid is used up, documented as doing so.
_EXHAUSTIBLE_SAMPLERS = (optuna.samplers.GridSampler, optuna.samplers.BruteForceSampler)


def _tell(
    study: optuna.Study, trial: optuna.trial.Trial, values: Sequence[float] | None, state: TrialState
) -> None:
    """``study.tell`` that survives a sampler ending the study (GridSampler once its grid is used up).

    GridSampler's ``after_trial`` calls ``study.stop()``, which raises RuntimeError outside
    ``study.optimize``; Optuna stores the trial's state in a ``finally`` first. Rather than match the
    error's message, this asks the study (public ``get_trials``) whether the state landed: then the
    sweep's own budget decides what happens next.
    """
    try:
        study.tell(trial, values=values, state=state, skip_if_finished=True)
    except RuntimeError as error:
        told = study.get_trials(deepcopy=False, states=(state,))
        if not any(frozen.number == trial.number for frozen in told):
            raise
        if not isinstance(study.sampler, _EXHAUSTIBLE_SAMPLERS):
            logger.warning("trial %d was told %s, then the sampler raised: %s", trial.number, state.name, error)


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
