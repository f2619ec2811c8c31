"""How MLflow's UI opens on a sweep: its runs view (not the GenAI view), the trials sorted by the objective
with the objective and the searched values as columns.

MLflow 3's UI shows an experiment in one of two workflows; the URL parameter ``workflowType`` chooses it,
and the experiment tag ``mlflow.experimentKind`` is what the UI's own experiment-kind selector writes. The
columns: MLflow has no documented run-table column setting, so the sweep's view is stored the way the UI's
own "Share" button stores one, as the experiment tag ``mlflow.sharedViewState.<key>`` (JSON of its search
facets and table state) that the URL parameter ``viewStateShareKey`` opens. Both are read from MLflow's UI
bundle (``mlflow/server/js``), not from a documented API: should a release drop them, the URL still opens
the experiment, with MLflow's default view. tests/test_private_apis.py checks them against the installed UI.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from weightsearch.redact import without_password
from weightsearch.tracking import names

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
WORKFLOW_PARAMETER = "workflowType"
MODEL_TRAINING_WORKFLOW = "machine_learning"
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
SHARED_VIEW_PARAMETER = "viewStateShareKey"
VIEW_KEY = "weightsearch-trials"
# Where `mlflow ui` / `mlflow server` listen by default, for a sweep recorded in a local store.
LOCAL_UI = "http://127.0.0.1:5000"


def set_up_experiment(
    client: MlflowClient, experiment_id: str, objectives: Sequence[tuple[str, str]], params: Iterable[str]
) -> None:
    """Mark the experiment as model training and store the trials view (objectives, then ``params`` as columns)."""
    client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
    metric, direction = objectives[0]
    view = {
        "searchFilter": f"tags.`{names.KIND}` = {names.quote(names.KIND_TRIAL)}",
        "orderByKey": _column("metrics", metric),
        "orderByAsc": direction == "minimize",
        "selectedColumns": [_column("metrics", m) for m, _ in objectives]
        + [_column("params", names.safe_name(p)) for p in sorted(params)],
    }
    client.set_experiment_tag(experiment_id, SHARED_VIEW_TAG_PREFIX + VIEW_KEY, json.dumps(view))


def runs_view_url(tracking_uri: str, experiment_id: str) -> str:
    """The experiment's trials in the UI: the tracking server's, or `mlflow ui`'s default address for a local store."""
    base = without_password(tracking_uri).rstrip("/") if tracking_uri.startswith(("http://", "https://")) else LOCAL_UI
    query = urlencode({WORKFLOW_PARAMETER: MODEL_TRAINING_WORKFLOW, SHARED_VIEW_PARAMETER: VIEW_KEY})
    return f"{base}/#/experiments/{experiment_id}/runs?{query}"


def _column(kind: str, key: str) -> str:
    """A run-table column as the UI names it (``metrics.`val/action/mse```)."""
    return f"{kind}.`{key}`"
