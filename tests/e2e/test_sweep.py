"""The quickstart sweep through the command line: real Ray, real Optuna storage, the reference VLA (shrunk).

The sweep is the e2e session's recorded quickstart (``conftest.py``), which prunes.
"""

from __future__ import annotations

import json

import optuna
import pytest
from cli_sweeps import QUICKSTART, SHRINK, weightsearch

from weightsearch.contracts import STUDY_ATTR_CALIBRATION

pytestmark = pytest.mark.e2e


def test_quickstart_prunes_completes_reports_status_and_refuses_a_rerun(recorded_quickstart):
    server, root, stdout = recorded_quickstart
    storage = str(root / "runs")
    assert "sweep quickstart ended" in stdout and "optuna-dashboard sqlite:///" in stdout

    url = f"sqlite:///{root / 'runs' / 'quickstart' / 'optuna.db'}"
    study = optuna.load_study(study_name="quickstart", storage=url)
    states = [trial.state.name for trial in study.trials]
    assert len(states) == 8 and {"PRUNED", "COMPLETE"} <= set(states), states
    gate = study.user_attrs[STUDY_ATTR_CALIBRATION]["steps"]
    assert any(entry["trusted"] for entry in gate.values()), gate
    for trial in study.trials:
        assert trial.user_attrs["params"]["strategy"] == trial.params["strategy"]
        assert min(trial.intermediate_values) == 20

    status = weightsearch("status", "quickstart", "--storage-path", storage, "--format", "json", cwd=root)
    assert status.returncode == 0, status.stderr
    reported = json.loads(status.stdout)
    assert reported["study"] == "quickstart" and reported["storage"] == url
    assert reported["counts"] == {state: states.count(state) for state in set(states)}
    assert reported["best"]["number"] == study.best_trial.number
    assert reported["best"]["value"] == pytest.approx(study.best_value)
    assert reported["best"]["params"] == study.best_trial.user_attrs["params"]

    again = weightsearch("run", str(QUICKSTART), "--storage-path", storage, "--tracking-uri", server.uri, *SHRINK, cwd=root)
    assert again.returncode == 2
    assert "already exists" in again.stderr and "--name" in again.stderr
    assert len(optuna.load_study(study_name="quickstart", storage=url).trials) == 8
