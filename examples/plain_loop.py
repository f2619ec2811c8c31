"""CompositeLoss in a plain PyTorch loop: two tasks on a shared trunk, GradNorm weights, EMA normalization."""

import torch
from torch import nn

from weightsearch import CompositeLoss, make_normalizer, make_strategy

trunk, heads = nn.Linear(8, 32), nn.ModuleDict({"action": nn.Linear(32, 2), "align": nn.Linear(32, 4)})
tasks = tuple(heads)
composite = CompositeLoss(make_strategy("gradnorm", tasks, alpha=1.5), make_normalizer("ema", tasks))
optimizer = torch.optim.AdamW([*trunk.parameters(), *heads.parameters(), *composite.parameters()], lr=1e-2)
for step in range(200):
    x = torch.randn(64, 8)
    features = torch.relu(trunk(x))
    losses = {
        "action": nn.functional.mse_loss(heads["action"](features), x[:, :2]),
        "align": nn.functional.cross_entropy(heads["align"](features), (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()),
    }
    record = composite(losses, step, shared_parameters=list(trunk.parameters()))
    optimizer.zero_grad()
    record.total.backward()
    optimizer.step()
print(record.metrics())  # train/loss/<task>, train/weight/<task>, train/contrib/<task>, ...
