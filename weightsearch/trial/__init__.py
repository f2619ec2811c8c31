"""The trainer of one trial and the plug-in contract for users' own models.

``train(config)`` runs a :class:`TrialConfig` on the reference VLA or on any factory named
``"package.module:function"`` that returns :class:`TrialComponents`; it reports through a callback
and knows nothing of Ray, Optuna or MLflow.
"""

from weightsearch.trial.components import ModelFactory, TrialComponents
from weightsearch.trial.config import TrialConfig
from weightsearch.trial.config_io import load_trial_config
from weightsearch.trial.plugin import load_factory
from weightsearch.trial.trainer import train

__all__ = ["ModelFactory", "TrialComponents", "TrialConfig", "load_factory", "load_trial_config", "train"]
