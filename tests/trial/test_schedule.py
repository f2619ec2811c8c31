"""The warm-up + cosine learning-rate schedule."""

from __future__ import annotations

import pytest
import torch

from weightsearch.trial.schedule import FINAL_LR_FRACTION, warmup_cosine


def learning_rates(total_steps: int, lr: float = 0.1) -> list[float]:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=lr)
    scheduler = warmup_cosine(optimizer, total_steps)
    rates = []
    for _ in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_warms_up_linearly_then_decays_to_the_final_fraction():
    rates = learning_rates(200, lr=0.1)  # 10 warm-up steps
    assert rates[:10] == pytest.approx([0.01 * (step + 1) for step in range(10)])
    assert max(rates) == pytest.approx(0.1)
    decay = rates[10:]
    assert all(later <= earlier for earlier, later in zip(decay, decay[1:]))
    assert decay[-1] == pytest.approx(0.1 * FINAL_LR_FRACTION, rel=1e-3)


def test_a_single_step_runs_at_the_full_rate():
    assert learning_rates(1, lr=0.1) == pytest.approx([0.1])
