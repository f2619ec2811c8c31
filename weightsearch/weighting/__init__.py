"""Loss-weighting strategies and loss normalizers, each registered by the name a spec uses."""

from weightsearch.weighting._base import WeightingStrategy
from weightsearch.weighting._dwa import DynamicWeightAverage
from weightsearch.weighting._famo import FAMO
from weightsearch.weighting._fixed import FixedWeighting
from weightsearch.weighting._gradients import (
    task_gradients,
    task_gramian,
    task_jacobian,
)
from weightsearch.weighting._gradnorm import GradNormWeighting
from weightsearch.weighting._importance import ImportanceWeighting
from weightsearch.weighting._indexing import PresentTasks
from weightsearch.weighting._normalizer_base import LossNormalizer
from weightsearch.weighting._normalizer_ema import EmaNormalization
from weightsearch.weighting._normalizer_initial import InitialLossNormalization
from weightsearch.weighting._normalizer_log import LogNormalization
from weightsearch.weighting._normalizer_none import NoNormalization
from weightsearch.weighting._normalizer_registry import NORMALIZERS, make_normalizer, register_normalizer
from weightsearch.weighting._registry import (
    STRATEGIES,
    make_strategy,
    register,
    strategy_arguments,
    strategy_class,
)
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
    "PresentTasks",
    "RandomLossWeighting",
    "TorchJDWeighting",
    "UncertaintyWeighting",
    "WeightingStrategy",
    "make_normalizer",
    "make_strategy",
    "register",
    "register_normalizer",
    "strategy_arguments",
    "strategy_class",
    "task_gradients",
    "task_gramian",
    "task_jacobian",
]
