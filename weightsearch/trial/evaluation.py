"""Validation of a trial's model: mean task losses and the factory's own task metrics."""

from __future__ import annotations

import torch

from weightsearch.trial.components import TrialComponents
from weightsearch.trial.device import mixed_precision


def evaluate(components: TrialComponents, device: torch.device) -> dict[str, float]:
    """``val/loss/<task>`` (mean over the validation batches that label the task) and ``val/<task>/<metric>``."""
    model = components.model
    model.eval()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    try:
        with torch.no_grad(), mixed_precision(device):
            for batch in components.val_batches:
                for task, loss in components.task_losses(model, batch).items():
                    sums[task] = sums.get(task, 0.0) + float(loss)
                    counts[task] = counts.get(task, 0) + 1
            task_metrics = dict(components.task_metrics(model, components.val_batches))
    finally:
        model.train()
    metrics = {f"val/loss/{task}": sums[task] / counts[task] for task in components.tasks if task in sums}
    metrics.update({f"val/{name}": float(value) for name, value in task_metrics.items()})
    return metrics
