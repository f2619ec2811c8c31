"""A worker's shutdown prints no traceback: Ray's SIGTERM SystemExit in a callback is dropped, other errors are not."""

from __future__ import annotations

import sys

from weightsearch.search.worker_setup import ignore_shutdown_exit


class _RaisesWhenCollected:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __del__(self) -> None:
        raise self.error  # an exception Python cannot raise: it goes to sys.unraisablehook


def test_the_shutdown_exit_is_silent_and_other_unraisable_errors_still_print(capsys, monkeypatch):
    monkeypatch.setattr(sys, "unraisablehook", ignore_shutdown_exit)
    _RaisesWhenCollected(SystemExit(1))
    assert capsys.readouterr().err == ""
    _RaisesWhenCollected(ValueError("a real problem"))
    assert "ValueError: a real problem" in capsys.readouterr().err


def test_every_worker_of_a_sweeps_ray_installs_the_hook_when_it_starts(local_ray):
    """The sweep's runtime environment (``WORKER_RUNTIME_ENV``, also the test Ray's) runs the setup hook in each worker."""

    @local_ray.remote(num_cpus=0)
    def unraisable_hook() -> str:
        return sys.unraisablehook.__qualname__

    assert local_ray.get(unraisable_hook.remote()) == ignore_shutdown_exit.__qualname__
