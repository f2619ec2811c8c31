"""Shared fixtures of the trainer tests: the repository root on ``sys.path`` and single-threaded torch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="session")
def _examples_importable():
    """``examples.plugin_model`` is imported from the repository root, as the CLI does from its directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO_ROOT))
        yield


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run many times faster on one thread than on two contended ones; restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
