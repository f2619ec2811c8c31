"""MLflow naming: repaired names, redacted credentials, flattened params, numeric metrics only."""

from __future__ import annotations

import numpy as np

from weightsearch.tracking import names


def test_safe_name_keeps_documented_metric_names_and_repairs_others():
    assert names.safe_name("train/grad_cos/action-align") == "train/grad_cos/action-align"
    assert names.safe_name("val/align/recall@1") == "val/align/recall_1"


def test_param_values_never_carry_uri_passwords():
    assert names.param_value("http://alice:s3cret@host:5000/x") == "http://alice:***@host:5000/x"
    assert names.param_value("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"


def test_as_params_flattens_and_stringifies():
    params = names.as_params({"lr": 0.01, "strategy_params": {"weights": {"align": 2.0}}, "grad_clip": None,
                              "tasks": ["a", "b"], "empty": {}, "tracking": {"uri": "https://u:p@h"}})
    assert params == {"lr": "0.01", "strategy_params.weights.align": "2.0", "grad_clip": "null",
                      "tasks": '["a", "b"]', "empty": "{}", "tracking.uri": "https://u:***@h"}


def test_numeric_metrics_skip_strings_bools_and_listed_keys():
    result = {"val/action/mse": np.float32(0.5), "step": 10, "done": False, "note": "x", "config": {}, "n": 3}
    assert names.numeric_metrics(result, skip=frozenset({"step"})) == {"val/action/mse": 0.5, "n": 3.0}
