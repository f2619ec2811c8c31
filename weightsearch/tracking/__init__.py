"""MLflow recording of sweeps (a parent run per sweep, a nested child run per trial) and queries over them.

The Ray Tune callback lives in :mod:`weightsearch.tracking.recorder` (``MlflowSweepCallback``) and is
not re-exported here, so that `weightsearch best` and `show` do not import Ray.
"""

from weightsearch.tracking.connection import check_tracking_uri
from weightsearch.tracking.query import best_trials, locate, open_sweep

__all__ = ["best_trials", "check_tracking_uri", "locate", "open_sweep"]
