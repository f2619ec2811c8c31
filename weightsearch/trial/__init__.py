"""The trainer of one trial and the plug-in contract for users' own models.

``train(config)`` runs a :class:`~weightsearch.config.TrialConfig` on the reference VLA or on any
factory named ``"package.module:function"`` that returns :class:`TrialComponents`; it reports
through a callback and knows nothing of Ray, Optuna or MLflow.
"""

from weightsearch.config.trial import TrialConfig, load_trial_config
from weightsearch.trial.components import ModelFactory, TrialComponents
from weightsearch.trial.plugin import load_factory, put_working_directory_on_path
from weightsearch.trial.trainer import train

__all__ = [
    "ModelFactory",
    "TrialComponents",
    "TrialConfig",
    "load_factory",
    "load_trial_config",
    "put_working_directory_on_path",
    "train",
]
