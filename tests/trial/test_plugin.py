"""Loading model factories by name and checking what they return."""

from __future__ import annotations

import sys

import pytest
import torch

from examples.plugin_model import build as build_example
from weightsearch.errors import UserError
from weightsearch.trial import TrialComponents, load_factory
from weightsearch.trial.plugin import build_components, put_working_directory_on_path


def test_reference_spec_resolves_to_the_built_in_vla():
    from weightsearch.vla import build_reference

    assert load_factory("reference") is build_reference


def test_module_function_spec_resolves_to_the_function():
    assert load_factory("examples.plugin_model:build") is build_example


def test_example_factory_keeps_the_contract():
    components = build_components(
        "examples.plugin_model:build", {"hidden": 16}, seed=3, batch_size=8, device=torch.device("cpu")
    )
    assert isinstance(components, TrialComponents)
    assert components.tasks == ("position", "region", "distance")
    first, again = components.train_batch(5), components.train_batch(5)
    assert torch.equal(first.inputs, again.inputs) and first.inputs.shape == (8, 8)
    assert not torch.equal(first.inputs, components.train_batch(6).inputs)
    losses = components.task_losses(components.model, components.train_batch(1))
    assert set(losses) == {"position", "region"}  # distance is labelled on even steps only
    assert set(components.task_losses(components.model, components.train_batch(2))) == set(components.tasks)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("examples.plugin_model", "is not a built-in model (metaworld, reference) or \"package.module:function\""),
        ("examples.plugin_model:build:extra", "is not a built-in model"),
        (":build", "is not a built-in model"),
        ("examples.plugin_model:", "is not a built-in model"),
        ("no_such_package.models:build", "cannot import 'no_such_package.models'"),
        ("examples.plugin_model:biuld", "has no attribute 'biuld'"),
        ("trial_plugins:NOT_CALLABLE", "is a int, not a function"),
    ],
)
def test_bad_specs_raise_user_errors_naming_the_model_field(spec, expected):
    with pytest.raises(UserError, match="trial config field 'model'") as raised:
        load_factory(spec)
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("trial_plugins:build_dict", "factory 'trial_plugins:build_dict' returned dict, expected TrialComponents"),
        ("trial_plugins:build_without_tasks", "returned tasks ()"),
    ],
)
def test_factories_breaking_the_contract_are_rejected(spec, expected):
    with pytest.raises(UserError) as raised:
        build_components(spec, {}, seed=0, batch_size=4, device=torch.device("cpu"))
    assert expected in str(raised.value)


def test_unknown_plugin_option_is_a_user_error():
    with pytest.raises(UserError, match="unknown option"):
        build_components("examples.plugin_model:build", {"width": 3}, seed=0, batch_size=4, device=torch.device("cpu"))


def test_working_directory_goes_on_the_import_path(tmp_path, monkeypatch):
    (tmp_path / "my_lab_models.py").write_text("from examples.plugin_model import build\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry not in ("", str(tmp_path))])
    with pytest.raises(UserError, match="cannot import 'my_lab_models'"):
        load_factory("my_lab_models:build")
    put_working_directory_on_path()
    assert load_factory("my_lab_models:build") is build_example
