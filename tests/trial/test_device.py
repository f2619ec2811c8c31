"""A trial that asks for a GPU it cannot see fails before its first step, saying why; `auto` says why it uses the CPU."""

from __future__ import annotations

import warnings

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.trial import TrialConfig, train
from weightsearch.trial.device import resolve_device

needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour on a machine without a GPU")


def no_gpu_with_a_cuda_build(monkeypatch: pytest.MonkeyPatch, driver_error: str) -> None:
    """What a CUDA build of torch meets in a container without GPU access: is_available() False, init() says why."""
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def init() -> None:
        raise RuntimeError(driver_error)

    monkeypatch.setattr(torch.cuda, "init", init)


@needs_no_gpu
def test_a_trial_on_cuda_without_a_gpu_fails_before_its_first_step_with_the_reason():
    config = TrialConfig(model="examples.plugin_model:build", device="cuda", steps=4, eval_every=2, batch_size=8)
    steps_done = []
    with pytest.raises(UserError) as raised:
        train(config, progress=lambda done, total: steps_done.append(done))
    assert steps_done == []
    message = str(raised.value)
    assert message.startswith("trial config field 'device': 'cuda' asks for a GPU but this process sees none: ")
    if torch.version.cuda is None:
        assert f"torch {torch.__version__} is a CPU-only build" in message


def test_a_cuda_build_without_gpu_access_names_the_driver_error_and_what_to_check(monkeypatch):
    no_gpu_with_a_cuda_build(monkeypatch, "Found no NVIDIA driver on your system. Please check ...")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(UserError) as raised:
        resolve_device("cuda:0")
    message = str(raised.value)
    assert "(CUDA 13.0): Found no NVIDIA driver on your system." in message
    assert "NVIDIA_VISIBLE_DEVICES" in message and "nvidia.com/gpu" in message and "driver new enough for CUDA 13.0" in message


def test_hidden_devices_are_named_as_the_reason(monkeypatch):
    no_gpu_with_a_cuda_build(monkeypatch, "unused")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(UserError, match=r"CUDA_VISIBLE_DEVICES='' hides every GPU .*resources.gpu > 0"):
        resolve_device("cuda")


def test_auto_warns_when_ray_assigned_a_gpu_it_cannot_use_and_stays_quiet_otherwise(monkeypatch):
    no_gpu_with_a_cuda_build(monkeypatch, "CUDA driver initialization failed")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.warns(UserWarning, match="device 'auto' trains on the CPU although GPUs were assigned: .*CUDA driver initialization failed"):
        assert resolve_device("auto") == torch.device("cpu")

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_device("auto") == torch.device("cpu")
