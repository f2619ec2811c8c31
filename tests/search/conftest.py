"""Shared fixtures of the search tests: a real local Ray whose workers can import the test plug-ins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SEARCH_TESTS = Path(__file__).resolve().parent
REPO_ROOT = SEARCH_TESTS.parents[1]
# Ray workers import `weightsearch` and the `sweep_plugins` test model from here.
WORKER_PYTHONPATH = os.pathsep.join([str(SEARCH_TESTS), str(REPO_ROOT)])


@pytest.fixture(scope="package")
def local_ray():
    """A two-CPU local Ray with one logical GPU (enough to test fractional packing without hardware).

    One for all the search tests (a start costs seconds); it ends with them, before other folders' tests.
    """
    import ray

    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=1,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": WORKER_PYTHONPATH}},
    )
    yield ray
    ray.shutdown()
