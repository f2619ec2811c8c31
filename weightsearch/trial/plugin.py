"""Finding and calling a trial's model factory: the reference VLA or a user's ``package.module:function``."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any

import torch

from weightsearch.errors import UserError
from weightsearch.trial.components import ModelFactory, TrialComponents

LOSS_FORMS = ("regression", "classification")


# Built-in factories by the short name a config may use; imported only when named.
BUILT_IN = {
    "reference": "weightsearch.vla:build_reference",
    "metaworld": "weightsearch.metaworld:build_metaworld",
}


def load_factory(spec: str) -> ModelFactory:
    """Resolve a built-in name (``"reference"``, ``"metaworld"``) or ``"package.module:function"`` to its factory.

    The module is imported with :mod:`importlib` from ``sys.path`` as it stands; the commands call
    :func:`put_working_directory_on_path` first, and Ray puts the driver's directory on its workers'.
    """
    spec = BUILT_IN.get(spec, spec)
    module_name, separator, function_name = spec.partition(":")
    if not separator or not module_name or not function_name or ":" in function_name:
        raise UserError(
            f"trial config field 'model': {spec!r} is not a built-in model ({', '.join(sorted(BUILT_IN))}) or \"package.module:function\"; "
            'write it like "my_models.vla:build"'
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UserError(
            f"trial config field 'model': cannot import {module_name!r} ({error}); install the package "
            "or run from the directory that contains it"
        ) from error
    factory = getattr(module, function_name, None)
    if factory is None:
        raise UserError(
            f"trial config field 'model': module {module_name!r} has no attribute {function_name!r}; "
            "check the function name after the colon"
        )
    if not callable(factory):
        raise UserError(
            f"trial config field 'model': {spec!r} is a {type(factory).__name__}, not a function; "
            "name a factory build(options, *, seed, batch_size, device) -> TrialComponents"
        )
    return factory


def put_working_directory_on_path() -> None:
    """Let a plug-in module in the current directory import, as under ``python -m`` (a console script lacks it)."""
    working_directory = os.getcwd()
    if "" not in sys.path and working_directory not in sys.path:
        sys.path.insert(0, working_directory)


def build_components(
    spec: str, options: Mapping[str, Any], *, seed: int, batch_size: int, device: torch.device
) -> TrialComponents:
    """Call the factory ``spec`` names and check that it kept the plug-in contract."""
    components = load_factory(spec)(options, seed=seed, batch_size=batch_size, device=device)
    if not isinstance(components, TrialComponents):
        raise UserError(
            f"trial config field 'model': model factory {spec!r} returned {type(components).__name__}, "
            "expected TrialComponents"
        )
    tasks = components.tasks
    if isinstance(tasks, str) or not tasks or len(set(tasks)) != len(tasks):
        raise UserError(
            f"trial config field 'model': model factory {spec!r} returned tasks {tasks!r}, "
            "expected a non-empty tuple of unique task names"
        )
    for task, form in components.loss_forms.items():
        if task not in tasks or form not in LOSS_FORMS:
            raise UserError(
                f"trial config field 'model': model factory {spec!r} returned loss_forms entry {task!r}: {form!r}; "
                f"keys must be among its tasks {list(tasks)} and values among {list(LOSS_FORMS)}"
            )
    return components
