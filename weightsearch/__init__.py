"""weightsearch: search the loss weights of vision-language-action pretraining.

The loss library below (task losses, weighting strategies, normalizers, ``CompositeLoss``) is plain
PyTorch and usable in any training loop; the sweep machinery (Ray Tune, Optuna, MLflow) lives in
``weightsearch.search`` and ``weightsearch.tracking`` and is imported only by the CLI.
"""

from importlib import import_module
from typing import Any

# Public name -> defining module. Imported on first use (PEP 562) so that `weightsearch --help` and
# the cluster commands do not pay for importing torch.
_EXPORTS = {
    "CompositeLoss": "weightsearch.composite",
    "LossRecord": "weightsearch.composite",
    "NonFiniteLossError": "weightsearch.errors",
    "UserError": "weightsearch.errors",
    "ActionTokenizer": "weightsearch.losses",
    "LearnableTemperature": "weightsearch.losses",
    "action_regression_loss": "weightsearch.losses",
    "action_token_loss": "weightsearch.losses",
    "info_nce": "weightsearch.losses",
    "masked_patch_loss": "weightsearch.losses",
    "masked_token_loss": "weightsearch.losses",
    "TrialComponents": "weightsearch.trial",
    "TrialConfig": "weightsearch.trial",
    "load_trial_config": "weightsearch.trial",
    "train": "weightsearch.trial",
    "NORMALIZERS": "weightsearch.weighting",
    "STRATEGIES": "weightsearch.weighting",
    "LossNormalizer": "weightsearch.weighting",
    "WeightingStrategy": "weightsearch.weighting",
    "make_normalizer": "weightsearch.weighting",
    "make_strategy": "weightsearch.weighting",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'weightsearch' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

__all__ = [  # noqa: F822 (resolved lazily by __getattr__)
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
