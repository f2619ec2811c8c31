"""Shared small MetaWorld settings: two quick tasks, 32-px frames, short episodes, one cache per session."""

from __future__ import annotations

import os

import pytest

from weightsearch.errors import UserError

pytest.importorskip("metaworld", reason="needs pip install 'weightsearch[metaworld]'")

if not os.environ.get("CI"):
    # Outside CI a machine may lack the system renderer (.ci/metaworld.sh installs it); CI never skips.
    from weightsearch.metaworld.rendering import check_renderer

    try:
        check_renderer()
    except UserError as error:
        pytest.skip(str(error), allow_module_level=True)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("metaworld-cache")
