"""Task losses for VLA pretraining: alignment (InfoNCE), actions (regression, tokens), masked reconstruction."""

from weightsearch.losses._action import ActionTokenizer, action_regression_loss, action_token_loss
from weightsearch.losses._contrastive import LearnableTemperature, info_nce
from weightsearch.losses._masked import masked_patch_loss, masked_token_loss

__all__ = [
    "ActionTokenizer",
    "LearnableTemperature",
    "action_regression_loss",
    "action_token_loss",
    "info_nce",
    "masked_patch_loss",
    "masked_token_loss",
]
