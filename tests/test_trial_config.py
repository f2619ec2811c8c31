"""Reading trial config YAML files into a validated TrialConfig (one-line errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from weightsearch.errors import UserError
from weightsearch.config import TrialConfig, load_trial_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_example_configs_load():
    config = load_trial_config(EXAMPLES / "plugin_trial.yaml")
    assert config.model == "examples.plugin_model:build"
    assert isinstance(load_trial_config(EXAMPLES / "reference_trial.yaml"), TrialConfig)


def test_overrides_replace_fields_before_validation(tmp_path):
    path = tmp_path / "trial.yaml"
    path.write_text("steps: 100\neval_every: 50\n")
    assert load_trial_config(path, {"steps": 200, "device": "cpu"}).steps == 200
    with pytest.raises(UserError, match=r"eval_every \(50\) is larger than steps \(10\)"):
        load_trial_config(path, {"steps": 10})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr: 0\n", "trial.yaml' field 'lr': must be > 0.0 (got 0)"),
        ("lerning_rate: 0.1\n", "trial.yaml' field 'lerning_rate': unknown field; valid: model, options, strategy"),
        ("steps: many\n", "trial.yaml' field 'steps': input should be a valid integer"),
        ("[1, 2]\n", "expected a YAML mapping at the top level, got list"),
        ("lr: [\n", "not valid YAML"),
    ],
)
def test_bad_files_raise_one_line_user_errors(tmp_path, text, expected):
    path = tmp_path / "trial.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as raised:
        load_trial_config(path)
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read it"):
        load_trial_config(tmp_path / "absent.yaml")


def test_empty_file_gives_the_defaults(tmp_path):
    path = tmp_path / "trial.yaml"
    path.write_text("")
    assert load_trial_config(path) == TrialConfig()
