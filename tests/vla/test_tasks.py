import math

import torch

from weightsearch.vla import build_reference

CPU = torch.device("cpu")


def test_losses_start_at_their_raw_scales():
    components = build_reference({"size": "tiny"}, seed=0, batch_size=32, device=CPU)
    losses = components.task_losses(components.model, components.train_batch(0))
    assert abs(losses["action_token"].item() - math.log(256)) < 0.6
    assert losses["action"].item() < 1.0
    assert losses["recon_patch"].item() < 1.0


def test_task_losses_omit_tasks_the_batch_does_not_label():
    components = build_reference({"size": "tiny"}, seed=0, batch_size=16, device=CPU)
    held_out, seen, captions = components.val_batches
    assert set(components.task_losses(components.model, held_out)) == {"action", "action_token"}
    assert set(components.task_losses(components.model, captions)) == {"align", "recon_patch", "recon_token"}

    action_only = build_reference({"size": "tiny", "caption_ratio": 0.0}, seed=0, batch_size=16, device=CPU)
    assert set(action_only.task_losses(action_only.model, action_only.train_batch(0))) == {"action", "action_token"}


def test_tasks_option_selects_tasks_losses_and_metrics():
    components = build_reference({"size": "tiny", "tasks": ["align", "action"]}, seed=0, batch_size=16, device=CPU)
    assert components.tasks == ("action", "align")
    batch = components.train_batch(0)
    assert batch.caption_scene_count == 0 and batch.caption_image_count == 8
    assert set(components.task_losses(components.model, batch)) == {"action", "align"}
    with torch.no_grad():
        metrics = components.task_metrics(components.model, components.val_batches)
    assert set(metrics) == {"action/mse", "action/mse_seen", "align/recall_at_1"}


def test_task_metrics_report_every_documented_metric_in_range():
    components = build_reference({"size": "tiny"}, seed=0, batch_size=16, device=CPU)
    with torch.no_grad():
        metrics = components.task_metrics(components.model, components.val_batches)
    assert set(metrics) == {
        "action/mse",
        "action/mse_seen",
        "action_token/accuracy",
        "align/recall_at_1",
        "recon_patch/mse",
        "recon_token/accuracy",
    }
    for name in ("action_token/accuracy", "align/recall_at_1", "recon_token/accuracy"):
        assert 0.0 <= metrics[name] <= 1.0
