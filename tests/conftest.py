"""Fixtures shared across test folders: one real local Ray for every in-process sweep test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Ray workers import `weightsearch` and the test trainables/plug-ins from these folders.
WORKER_PYTHONPATH = os.pathsep.join(str(path) for path in (TESTS / "search", TESTS / "tracking", TESTS.parent))


@pytest.fixture(scope="session")
def local_ray():
    """A two-CPU local Ray on loopback with one logical GPU (enough to test fractional packing).

    One for the whole session: ``ray.init`` is process-wide and a start costs seconds.
    """
    import ray

    from weightsearch.search.tuner import WORKER_RUNTIME_ENV, _single_machine_node_ip

    # As a sweep's own Ray: every process on 127.0.0.1 (Ray would otherwise take the machine's address).
    with _single_machine_node_ip():
        ray.init(
            address="local",
            num_cpus=2,
            num_gpus=1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            configure_logging=False,
            runtime_env={**WORKER_RUNTIME_ENV, "env_vars": {"PYTHONPATH": WORKER_PYTHONPATH}},
        )
    yield ray
    ray.shutdown()
