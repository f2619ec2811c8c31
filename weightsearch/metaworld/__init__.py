"""MetaWorld (real physics) for weightsearch: expert demonstrations, a VLA policy, closed-loop success.

Needs ``pip install 'weightsearch[metaworld]'`` and an off-screen renderer (Debian ``libosmesa6``).
Use it in a spec as ``model: "weightsearch.metaworld:build_metaworld"``.
"""

from weightsearch.metaworld.rendering import configure_backend

# Before anything below can import mujoco: MuJoCo picks its GL backend once, at import.
configure_backend()

from weightsearch.metaworld.collection import CollectionSettings, Demonstrations, load_or_collect  # noqa: E402
from weightsearch.metaworld.factory import build_metaworld  # noqa: E402
from weightsearch.metaworld.rollout import Observations, success_rates  # noqa: E402
from weightsearch.metaworld.suite import MT10  # noqa: E402

__all__ = [
    "MT10",
    "CollectionSettings",
    "Demonstrations",
    "Observations",
    "build_metaworld",
    "configure_backend",
    "load_or_collect",
    "success_rates",
]
