"""How a sweep appears in MLflow: tag and metric names, and the conversion of values into params.

A sweep is one parent run (``weightsearch.kind=sweep``) with one nested child run per Optuna trial
(``weightsearch.kind=trial``, ``mlflow.parentRunId``); the queries of ``best`` and ``show`` and a
resumed sweep find runs by these tags, so they are the stable contract of this package.
"""

from __future__ import annotations

import json
import numbers
import re
from collections.abc import Mapping
from typing import Any

from weightsearch.redact import without_password

# MLflow's documented system tag that nests a run under its parent (what `start_run(nested=True)`
# sets), and its documented limit on a param value. MLflow exports both only from its private
# `mlflow.utils` package; tests/test_private_apis.py checks they still equal MLflow's own.
MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"
MAX_PARAM_VALUE_LENGTH = 6000

KIND = "weightsearch.kind"
KIND_SWEEP = "sweep"
KIND_TRIAL = "trial"
KIND_CONFIRM = "confirm"  # a confirmation run: one configuration on one fresh seed

# parent run
SWEEP = "weightsearch.sweep"
# One id per Optuna study, kept in the study's user attributes: a resumed sweep finds its parent run
# by it, while a new sweep reusing a name (after its run directory was deleted) gets a new parent.
SWEEP_ID = "weightsearch.sweep_id"
SAMPLER = "weightsearch.sampler"
PRUNER = "weightsearch.pruner"
RAY_ADDRESS = "weightsearch.ray_address"
OBJECTIVES = "weightsearch.objectives"  # JSON list of {"metric", "direction"}, in the spec's order
# JSON list of the parent's `trial.*` params (and the keys below them) that the search space sets per trial:
# those params are the base trial's values, not what the trials ran (each child run holds its own).
SPACE_OVERRIDES = "weightsearch.space_overrides"
VERSION_PREFIX = "weightsearch.version."
BEST_PREFIX = "weightsearch.best."
BEST_METRIC_PREFIX = "best/"

# child runs
PARENT_RUN_ID = MLFLOW_PARENT_RUN_ID
SWEEP_RUN_ID = "weightsearch.sweep_run_id"
TRIAL_NUMBER = "optuna.trial_number"
RAY_TRIAL_ID = "ray.trial_id"
TRIAL_STATE = "weightsearch.trial_state"
FAIL_REASON = "weightsearch.fail_reason"  # why a FAIL trial failed (one line)
STOP_REASON = "weightsearch.stop_reason"  # why a PRUNED trial was stopped from outside the pruner (time budget)
TRIAL_CONFIG = "weightsearch.trial_config"  # JSON of the resolved TrialConfig (what `best --format yaml` emits)
SEARCHED = "weightsearch.searched"  # JSON list of the param names the search space sampled
RETRIES = "weightsearch.retries"  # how often Ray retried the trial from its checkpoint (Optuna: ATTR_RETRIES)

# confirmation: child runs tagged with their stage and unit, the report on the parent run
STAGE = "weightsearch.stage"
CONFIRM_UNIT = "weightsearch.confirm_unit"  # <scale>:<configuration>:<seed>, unique in a sweep
CONFIRMATION = "weightsearch.confirmation"  # on the parent: the artifact path of the latest report
CONFIRMED_BEST = "weightsearch.confirmed_best"  # on the parent: the configuration ranked first
CONFIRMATION_ARTIFACT = "confirmation/confirmation.json"
# The parent run's copy of a calibrated pruner's per-step table (the study attribute STUDY_ATTR_CALIBRATION).
CALIBRATION_ARTIFACT = "calibration.json"
# on the parent: Spearman ρ between the search's and the confirmed ranking, its bootstrap interval, and
# 1/0 for whether the search's best is the confirmed best (the latest confirmation of ≥ 3 configurations)
CONFIRM_RANK_RHO = "confirm/rank_rho"
CONFIRM_RANK_RHO_LOW = "confirm/rank_rho_ci_low"
CONFIRM_RANK_RHO_HIGH = "confirm/rank_rho_ci_high"
CONFIRM_SEARCH_BEST_CONFIRMED = "confirm/search_best_is_confirmed_best"

TRIAL_STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING")
# A trial's Optuna state as the MLflow status of its child run (MLflow's RunStatus names).
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED", "RUNNING": "RUNNING"}
MAX_REASON_LENGTH = 2000

# MLflow accepts only these characters in metric, param and tag names (mlflow/utils/validation.py);
# one bad name makes a whole log_batch fail, so names are repaired before sending.
_INVALID_NAME_CHARACTERS = re.compile(r"[^/\w.\- :]")


def safe_name(name: str) -> str:
    """``name`` with every character MLflow rejects replaced by ``_``."""
    return _INVALID_NAME_CHARACTERS.sub("_", name)


def reason_value(reason: str) -> str:
    """A fail or stop reason as the value of its tag: redacted, within the length a tag shows in full."""
    return without_password(reason)[:MAX_REASON_LENGTH]


def quote(value: str) -> str:
    """``value`` as a string literal of an MLflow search filter."""
    return "'" + value.replace("'", "\\'") + "'"


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys, e.g. ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def param_value(value: Any) -> str:
    """A value as an MLflow param string (JSON unless a string), redacted, within MLflow's length limit."""
    text = value if isinstance(value, str) else json.dumps(value)
    return without_password(text)[:MAX_PARAM_VALUE_LENGTH]


def as_params(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``mapping`` flattened into MLflow params (safe names, string values)."""
    return {safe_name(key): param_value(value) for key, value in flatten(mapping, prefix).items()}


def numeric_metrics(result: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> dict[str, float]:
    """The numeric entries of ``result`` under MLflow-safe names; strings, dicts, bools and ``skip`` left out."""
    metrics: dict[str, float] = {}
    for key, value in result.items():
        if key in skip or isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        metrics[safe_name(key)] = float(value)
    return metrics
