"""Shared small MetaWorld settings: two quick tasks, 32-px frames, short episodes, one cache per session."""

from __future__ import annotations

import pytest

pytest.importorskip("metaworld", reason="needs pip install 'weightsearch[metaworld]'")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("metaworld-cache")
