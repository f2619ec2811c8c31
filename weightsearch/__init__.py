"""weightsearch: search the loss weights of vision-language-action pretraining.

The loss library below (task losses, weighting strategies, normalizers, ``CompositeLoss``) is plain
PyTorch and usable in any training loop; the sweep machinery (Ray Tune, Optuna, MLflow) lives in
``weightsearch.search`` and ``weightsearch.tracking`` and is imported only by the CLI.
"""

from weightsearch.composite import CompositeLoss, LossRecord
from weightsearch.errors import NonFiniteLossError, UserError
from weightsearch.losses import (
    ActionTokenizer,
    LearnableTemperature,
    action_regression_loss,
    action_token_loss,
    info_nce,
    masked_patch_loss,
    masked_token_loss,
)
from weightsearch.trial import TrialComponents, TrialConfig, load_trial_config, train
from weightsearch.weighting import (
    NORMALIZERS,
    STRATEGIES,
    LossNormalizer,
    WeightingStrategy,
    make_normalizer,
    make_strategy,
)

__version__ = "0.1.0"

__all__ = [
    "NORMALIZERS",
    "STRATEGIES",
    "ActionTokenizer",
    "CompositeLoss",
    "LearnableTemperature",
    "LossNormalizer",
    "LossRecord",
    "NonFiniteLossError",
    "TrialComponents",
    "TrialConfig",
    "UserError",
    "WeightingStrategy",
    "action_regression_loss",
    "action_token_loss",
    "info_nce",
    "load_trial_config",
    "make_normalizer",
    "make_strategy",
    "masked_patch_loss",
    "masked_token_loss",
    "train",
]
