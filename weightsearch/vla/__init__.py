"""The built-in reference VLA: model, procedural co-training data, task losses and metrics."""

from weightsearch.vla.data import ReferenceData, VLABatch
from weightsearch.vla.factory import build_reference
from weightsearch.vla.model import SIZES, ModelSize, ReferenceVLA, VLAOutputs
from weightsearch.vla.tasks import LOSS_FORMS, TASKS, shared_parameters, task_losses, task_metrics

__all__ = [
    "LOSS_FORMS",
    "SIZES",
    "TASKS",
    "ModelSize",
    "ReferenceData",
    "ReferenceVLA",
    "VLABatch",
    "VLAOutputs",
    "build_reference",
    "shared_parameters",
    "task_losses",
    "task_metrics",
]
