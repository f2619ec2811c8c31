"""Every strategy and normalizer on CUDA under bf16 autocast, with a checkpoint moved to the CPU and back."""

import pytest
import torch
from torch import nn

from weightsearch.composite import CompositeLoss
from weightsearch.weighting import NORMALIZERS, STRATEGIES, make_normalizer, make_strategy

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
TASKS = ("a", "b", "c")


@pytest.mark.parametrize("normalization", sorted(NORMALIZERS))
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_trains_on_cuda_with_autocast_and_round_trips(name, normalization):
    if normalization == "log" and STRATEGIES[name].needs_positive_losses:
        pytest.skip("refused combination")
    if name == "torchjd":
        pytest.importorskip("torchjd")
    device = torch.device("cuda")
    params = {"aggregator": "mgda"} if name == "torchjd" else {}
    torch.manual_seed(0)
    trunk = nn.Linear(8, 8).to(device)
    heads = nn.ModuleList([nn.Linear(8, 1) for _ in TASKS]).to(device)
    composite = CompositeLoss(make_strategy(name, TASKS, **params), make_normalizer(normalization, TASKS)).to(device)
    optimizer = torch.optim.AdamW([*trunk.parameters(), *heads.parameters(), *composite.parameters()], lr=1e-2)
    for step in range(6):
        inputs = torch.randn(16, 8, device=device)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            features = torch.tanh(trunk(inputs))
            losses = {
                task: (head(features).float() - index).pow(2).mean() + 0.1
                for index, (task, head) in enumerate(zip(TASKS, heads))
                if step % 3 or task != "b"
            }
            record = composite(losses, step, shared_parameters=list(trunk.parameters()), diagnostics=step == 5)
        optimizer.zero_grad()
        record.total.backward()
        optimizer.step()
        assert all(value == value for value in record.metrics().values())
    assert set(record.grad_cosines) == {"a-b", "a-c", "b-c"}
    restored = CompositeLoss(make_strategy(name, TASKS, **params), make_normalizer(normalization, TASKS))
    restored.load_state_dict(
        {key: value.cpu() if isinstance(value, torch.Tensor) else value for key, value in composite.state_dict().items()}
    )
    assert restored.to(device).strategy.current_weights() == composite.strategy.current_weights()
