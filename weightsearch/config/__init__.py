"""The configuration layer: trial config, search spaces, sweep spec and their loading from YAML.

It imports pydantic and yaml only (never torch, Ray, Optuna or MLflow), so reading a spec is cheap
for every command; what needs the model or Optuna is checked in :mod:`weightsearch.search.checks`.
"""

from weightsearch.config.errors import FieldError, format_validation_error
from weightsearch.config.kinds import (
    Choice,
    FloatRange,
    IntRange,
    Simplex,
    simplex_weights,
)
from weightsearch.config.loading import (
    find_space_file,
    load_spec,
    overrides_from_args,
    read_mapping,
    resolve_spec_file,
    spec_to_yaml,
)
from weightsearch.config.space import Leaf, SearchSpace, load_space
from weightsearch.config.spec import (
    DEFAULT_OBJECTIVE,
    Budget,
    Objective,
    PrunerSpec,
    Resources,
    SamplerSpec,
    SweepSpec,
)
from weightsearch.config.trial import TrialConfig, load_trial_config
from weightsearch.config.yaml_io import read_yaml_mapping

__all__ = [
    "DEFAULT_OBJECTIVE",
    "Budget",
    "Choice",
    "FieldError",
    "FloatRange",
    "IntRange",
    "Leaf",
    "Objective",
    "PrunerSpec",
    "Resources",
    "SamplerSpec",
    "SearchSpace",
    "Simplex",
    "SweepSpec",
    "TrialConfig",
    "find_space_file",
    "format_validation_error",
    "load_space",
    "load_spec",
    "load_trial_config",
    "overrides_from_args",
    "read_mapping",
    "read_yaml_mapping",
    "resolve_spec_file",
    "simplex_weights",
    "spec_to_yaml",
]
