"""The sweep tests' tiny regression model, slowed down so that a sweep can be killed mid-trial (``resume_plugins:build``)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import torch
from sweep_plugins import build as build_fast

from weightsearch.trial import TrialComponents


def build(options: Mapping[str, Any], *, seed: int, batch_size: int, device: torch.device) -> TrialComponents:
    """``sweep_plugins:build`` whose training batches each take ``options["step_sleep_s"]`` seconds."""
    fast_options = {key: value for key, value in options.items() if key != "step_sleep_s"}
    components = build_fast(fast_options, seed=seed, batch_size=batch_size, device=device)
    fast_batch = components.train_batch

    def slow_batch(index: int) -> Any:
        time.sleep(options.get("step_sleep_s", 0.0))
        return fast_batch(index)

    return dataclasses.replace(components, train_batch=slow_batch)
