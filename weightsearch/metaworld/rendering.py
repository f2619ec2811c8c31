"""Off-screen rendering for MetaWorld: choose MuJoCo's GL backend before mujoco is imported, fail in one line."""

from __future__ import annotations

import os
from functools import cache

from weightsearch.errors import UserError

DEFAULT_BACKEND = "osmesa"
"""Software rendering: works on a CPU-only machine and in CI; set ``MUJOCO_GL=egl`` on a GPU host."""

DEBIAN_PACKAGES = {"osmesa": "libosmesa6", "egl": "libegl1 libegl-mesa0", "glfw": "libglfw3 libgl1"}


def configure_backend() -> str:
    """Set ``MUJOCO_GL`` (and PyOpenGL's platform to match) unless the user chose one; return the backend.

    MuJoCo reads ``MUJOCO_GL`` once, when ``mujoco`` is first imported, so this runs before any
    import of mujoco or metaworld.
    """
    backend = os.environ.setdefault("MUJOCO_GL", DEFAULT_BACKEND)
    if backend in ("osmesa", "egl"):
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return backend


@cache
def check_renderer() -> None:
    """Open and free a 1×1 GL context once; a missing system library becomes a `UserError` naming its package."""
    backend = configure_backend()
    try:
        import mujoco

        context = mujoco.GLContext(1, 1)
        context.make_current()
        context.free()
    except ImportError as error:
        if error.name == "mujoco":
            raise missing_extra(error) from error
        raise _missing_library(backend, error) from error
    except (AttributeError, OSError, RuntimeError) as error:
        raise _missing_library(backend, error) from error


def missing_extra(error: ImportError) -> UserError:
    """The one-line error for a missing ``metaworld``/``mujoco`` Python package."""
    return UserError(f"the MetaWorld model needs {error.name}: pip install 'weightsearch[metaworld]'")


def _missing_library(backend: str, error: BaseException) -> UserError:
    package = DEBIAN_PACKAGES.get(backend, "libosmesa6")
    return UserError(
        f"MUJOCO_GL={backend}: cannot open an off-screen GL context ({type(error).__name__}: {error}); "
        f"install the renderer (Debian: apt-get install {package}) or set MUJOCO_GL to osmesa or egl"
    )
