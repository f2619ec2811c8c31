"""Small Ray Tune function trainables for the tracking tests (a module of its own so Ray workers can import it)."""

from __future__ import annotations

import time

from ray import tune

TASKS = ("action", "align")
STEPS = (10, 20, 30, 40)
OBJECTIVE = "val/action/mse"
FAILING_TRIAL = 1
PRUNE_THRESHOLD = 3.0
# Final objective by trial number (default 1.0): 0 and 4 tie, 3 is best, 2 and 5 go above the
# pruning threshold at their first report.
QUALITY = {2: 9.0, 3: 0.5, 5: 9.0}


def metrics_at(number: int, step: int) -> dict:
    """What a weightsearch trial reports at ``step``, documented names, plus a string and an ``@`` name."""
    quality = QUALITY.get(number, 1.0)
    metrics: dict = {"step": step, "time/train_s": 0.01 * step, "note": "not a number", "val/align/recall@1": 0.5}
    for index, task in enumerate(TASKS):
        loss = quality * (index + 1) + 1.0 / step
        weight = 1.0 + 0.01 * step * (index + 1) + 0.1 * number
        metrics |= {
            f"train/loss/{task}": loss,
            f"train/loss_norm/{task}": loss / 2,
            f"train/weight/{task}": weight,
            f"train/contrib/{task}": weight * loss / 2,
            f"val/loss/{task}": loss + 0.01 * number,
        }
    metrics["train/loss/total"] = sum(metrics[f"train/contrib/{task}"] for task in TASKS)
    metrics[OBJECTIVE] = quality + 1.0 / STEPS[-1]
    return metrics


def reporting_trainable(config: dict) -> None:
    """Report at every step of STEPS; trial FAILING_TRIAL raises after its first report."""
    number = config["trial_number"]
    for step in STEPS:
        tune.report(metrics_at(number, step))
        if number == FAILING_TRIAL:
            raise RuntimeError("synthetic failure of trial 1")


def slow_trainable(config: dict) -> None:
    """Report every ``seconds_per_step`` (from the trial's options) so a test can stop MLflow in between."""
    number = config["trial_number"]
    seconds = config["trial"]["options"]["seconds_per_step"]
    for step in range(1, config["trial"]["steps"] + 1):
        time.sleep(seconds)
        tune.report({"step": step, "val/action/mse": 1.0 / step + number, "train/weight/action": float(step)})
