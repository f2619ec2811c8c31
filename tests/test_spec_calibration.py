"""The `calibrate` block of a pruner section: the gated pruner it builds and its one-line errors through `validate`."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from weightsearch.cli import main
from weightsearch.config import load_spec
from weightsearch.errors import UserError
from weightsearch.search.calibration import CalibratedPruner
from weightsearch.search.optuna_factory import make_pruner

TWO_OBJECTIVES = [{"metric": "val/action/mse"}, {"metric": "val/align/recall_at_1", "mode": "max"}]


def _spec_file(tmp_path: Path, **changes: object) -> Path:
    data = {
        "name": "calibrated",
        "trial": {"options": {"size": "tiny"}, "steps": 20, "eval_every": 10, "batch_size": 8},
        "space": {"parameters": {"lr": {"float": [1e-3, 1e-2], "log": True}}},
        "budget": {"num_samples": 4},
        "storage": {"path": str(tmp_path / "runs")},
        **changes,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_calibrate_block_gates_the_named_pruner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pruner_section = {
        "name": "median",
        "options": {"n_startup_trials": 2},
        "calibrate": {"min_complete": 4, "min_rho": 0.5},
    }
    path = _spec_file(tmp_path, pruner=pruner_section)
    pruner = make_pruner(load_spec(path))
    assert isinstance(pruner, CalibratedPruner) and isinstance(pruner.inner, optuna.pruners.MedianPruner)
    assert (pruner.min_complete, pruner.min_rho) == (4, 0.5)
    assert main(["validate", str(path)]) == 0
    assert (
        "median (n_startup_trials=2), acting only at calibrated steps (min_complete=4, min_rho=0.5)"
        in capsys.readouterr().out
    )
    defaults = make_pruner(load_spec(_spec_file(tmp_path, pruner={"name": "wilcoxon", "calibrate": {}})))
    assert (defaults.min_complete, defaults.min_rho) == (6, 0.8) and isinstance(
        defaults.inner, optuna.pruners.WilcoxonPruner
    )
    assert isinstance(make_pruner(load_spec(_spec_file(tmp_path))), optuna.pruners.MedianPruner)  # no block, no gate


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"pruner": {"name": "median", "calibrate": {"min_rho": 1.5}}},
            "spec field 'pruner.calibrate.min_rho': must be <= 1.0 (got 1.5)",
        ),
        (
            {"pruner": {"name": "median", "calibrate": {"min_rho": -2}}},
            "spec field 'pruner.calibrate.min_rho': must be >= -1.0 (got -2)",
        ),
        (
            {"pruner": {"name": "median", "calibrate": {"min_complete": 2}}},
            "spec field 'pruner.calibrate.min_complete': must be >= 3 (got 2)",
        ),
        (
            {"pruner": {"name": "median", "calibrate": {"min_complete": 6.0}}},
            "spec field 'pruner.calibrate.min_complete': input should be a valid integer",
        ),
        (
            {"pruner": {"name": "median", "calibrate": {"min_cmplete": 6}}},
            "spec field 'pruner.calibrate.min_cmplete': unknown field; valid: min_complete, min_rho",
        ),
        (
            {"pruner": {"name": "none", "calibrate": {}}},
            "spec field 'pruner.calibrate': pruner 'none' prunes nothing to calibrate; remove calibrate or name a pruner",
        ),
        (
            {"objective": TWO_OBJECTIVES, "pruner": {"name": "median", "calibrate": {}}},
            "spec field 'pruner.calibrate': calibration ranks one objective, the spec has 2; remove calibrate",
        ),
    ],
)
def test_bad_calibration_is_one_line_and_exit_2(
    changes: dict, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(_spec_file(tmp_path, **changes))]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and expected in captured.err, captured.err
    assert captured.err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_a_wrapped_pruner_is_not_calibrated_on_its_own(tmp_path: Path) -> None:
    wrapped = {"name": "median", "calibrate": {}}
    spec = load_spec(
        _spec_file(tmp_path, pruner={"name": "patient", "options": {"patience": 1, "wrapped_pruner": wrapped}})
    )
    with pytest.raises(UserError) as raised:
        make_pruner(spec)
    assert str(raised.value) == (
        "spec field 'pruner.options.wrapped_pruner.calibrate': calibrate the outer pruner instead (pruner.calibrate)"
    )
    outer = {"name": "patient", "options": {"patience": 1, "wrapped_pruner": {"name": "median"}}, "calibrate": {}}
    gated = make_pruner(load_spec(_spec_file(tmp_path, pruner=outer)))
    assert isinstance(gated, CalibratedPruner) and isinstance(gated.inner, optuna.pruners.PatientPruner)


@pytest.mark.parametrize(("min_complete", "min_rho"), [(2, 0.8), (6, 1.01), (6, -1.5), (True, 0.5)])
def test_the_pruner_refuses_bad_settings(min_complete: object, min_rho: float) -> None:
    with pytest.raises(ValueError, match="min_complete must be an integer >= 3|min_rho must be in"):
        CalibratedPruner(optuna.pruners.MedianPruner(), min_complete=min_complete, min_rho=min_rho)  # type: ignore[arg-type]
