"""The resolved configuration of one trial: what `weightsearch train` reads and `best --format yaml` emits."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    strategy: str = Field("fixed", description="Weighting strategy name, as registered in weightsearch.weighting.")
    strategy_params: dict[str, Any] = Field(
        default_factory=dict, description='Constructor arguments of the strategy, e.g. {"weights": {"action": 1.0}}.'
    )
    normalization: str = Field("none", description="Loss normalizer: none, initial, ema or log.")
    normalization_params: dict[str, Any] = Field(default_factory=dict)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    grad_clip: float | None = Field(1.0, gt=0, description="Max global gradient norm; null disables clipping.")
    steps: int = Field(800, ge=1)
    eval_every: int = Field(200, ge=1)
    batch_size: int = Field(32, ge=1)
    seed: int = 0
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
