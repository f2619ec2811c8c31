"""The resolved configuration of one trial: what `weightsearch train` reads and `best --format yaml` emits."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from weightsearch.config.errors import format_validation_error
from weightsearch.config.yaml_io import read_yaml_mapping
from weightsearch.errors import UserError


class TrialConfig(BaseModel):
    """One fully resolved training configuration (no search ranges left in it).

    A sweep's search space samples values for dotted paths into this model (``lr``,
    ``strategy_params.weights.align``, ``options.caption_ratio``, …); the result is a
    ``TrialConfig`` that the trainer runs.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field("reference", description='"reference" or a plug-in "package.module:function".')
    options: dict[str, Any] = Field(
        default_factory=dict, description="Options passed to the model factory (size, data mixture, …)."
    )
    strategy: str = Field(
        "fixed", description='Weighting strategy: a registered name or a "package.module:Class" import path.'
    )
    strategy_params: dict[str, Any] = Field(
        default_factory=dict, description='Constructor arguments of the strategy, e.g. {"weights": {"action": 1.0}}.'
    )
    normalization: str = Field("none", description="Loss normalizer: none, initial, ema or log.")
    normalization_params: dict[str, Any] = Field(default_factory=dict)
    lr: float = Field(3e-3, gt=0, allow_inf_nan=False)
    weight_decay: float = Field(0.01, ge=0, allow_inf_nan=False)
    grad_clip: float | None = Field(
        1.0, gt=0, allow_inf_nan=False, description="Max global gradient norm; null disables clipping."
    )
    steps: int = Field(800, ge=1, le=1_000_000_000, strict=True)
    eval_every: int = Field(200, ge=1, strict=True)
    batch_size: int = Field(32, ge=1, le=1_000_000, strict=True)
    seed: int = Field(0, ge=0, lt=2**32, strict=True, description="Seeds torch and the data (NumPy takes < 2³²).")
    repeats: int = Field(
        1,
        ge=1,
        le=16,
        description="Seeds the trial trains on: seed, seed+1, …, seed+repeats-1, in lockstep in one process; "
        "it reports each metric's mean over them (what the sampler and pruner see) and each seed's value "
        "as seed<k>/<metric>.",
    )
    diagnostics: bool = Field(True, description="Gradient-conflict diagnostics at evaluation steps.")
    device: str = Field("auto", description='"auto" (CUDA when available), "cpu", "cuda" or "cuda:N".')

    @model_validator(mode="after")
    def _eval_within_steps(self) -> "TrialConfig":
        if self.eval_every > self.steps:
            raise ValueError(
                f"eval_every ({self.eval_every}) is larger than steps ({self.steps}): "
                "set eval_every <= steps"
            )
        return self


def with_fields(base: TrialConfig, fields: Mapping[str, Any]) -> TrialConfig:
    """``base`` with top-level ``fields`` replaced; changing the strategy drops the base's strategy arguments.

    Raises:
        ValueError: one line naming the field, when the result is not a valid trial.
    """
    data = base.model_dump()
    if "strategy" in fields and fields["strategy"] != base.strategy:
        data["strategy_params"] = {}
    data.update(fields)
    try:
        return TrialConfig.model_validate(data)
    except ValidationError as error:
        raise ValueError(format_validation_error(error, "field", root=TrialConfig)) from None


def with_changes(base: TrialConfig, changes: Mapping[str, Any]) -> TrialConfig:
    """``base`` with dotted ``changes`` (``steps``, ``options.size``: into mappings) set, e.g. another scale.

    Raises:
        ValueError: one line naming the field, when the result is not a valid trial.
    """
    data = base.model_dump()
    for key, value in changes.items():
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = value
    try:
        return TrialConfig.model_validate(data)
    except ValidationError as error:
        raise ValueError(format_validation_error(error, "field", root=TrialConfig)) from None


def load_trial_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> TrialConfig:
    """Load ``path`` (YAML mapping), apply top-level ``overrides`` (e.g. the CLI's ``--steps``), validate."""
    path = Path(path)
    data = {**read_yaml_mapping(path, "trial config"), **(overrides or {})}
    try:
        return TrialConfig.model_validate(data)
    except ValidationError as error:
        raise UserError(format_validation_error(error, f"trial config '{path}' field", root=TrialConfig)) from None
