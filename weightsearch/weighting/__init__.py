"""Loss-weighting strategies and loss normalizers, each registered by the name a spec uses."""

from weightsearch.weighting._base import WeightingStrategy
from weightsearch.weighting._dwa import DynamicWeightAverage
from weightsearch.weighting._famo import FAMO
from weightsearch.weighting._fixed import FixedWeighting
from weightsearch.weighting._gradients import task_gradients, task_gramian, task_jacobian
from weightsearch.weighting._gradnorm import GradNormWeighting
from weightsearch.weighting._importance import ImportanceWeighting
from weightsearch.weighting._normalization import (
    NORMALIZERS,
    EmaNormalization,
    InitialLossNormalization,
    LogNormalization,
    LossNormalizer,
    NoNormalization,
    make_normalizer,
    register_normalizer,
)
from weightsearch.weighting._registry import STRATEGIES, make_strategy, register
from weightsearch.weighting._rlw import RandomLossWeighting
from weightsearch.weighting._torchjd import TorchJDWeighting
from weightsearch.weighting._uncertainty import UncertaintyWeighting

__all__ = [
    "FAMO",
    "NORMALIZERS",
    "STRATEGIES",
    "DynamicWeightAverage",
    "EmaNormalization",
    "FixedWeighting",
    "GradNormWeighting",
    "ImportanceWeighting",
    "InitialLossNormalization",
    "LogNormalization",
    "LossNormalizer",
    "NoNormalization",
    "RandomLossWeighting",
    "TorchJDWeighting",
    "UncertaintyWeighting",
    "WeightingStrategy",
    "make_normalizer",
    "make_strategy",
    "register",
    "register_normalizer",
    "task_gradients",
    "task_gramian",
    "task_jacobian",
]
