"""From the reference VLA's outputs to task losses (raw scales, labelled items only) and task metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from weightsearch.losses import (
    action_regression_loss,
    action_token_loss,
    info_nce,
    masked_patch_loss,
    masked_token_loss,
)
from weightsearch.vla import scenes
from weightsearch.vla.data import VLABatch, to_patches
from weightsearch.vla.model import ReferenceVLA

TASKS = ("action", "action_token", "align", "recon_patch", "recon_token")
ACTION_TASKS = ("action", "action_token")
"""The tasks the policy is judged on; the others are auxiliaries that shape the shared trunk."""
LOSS_FORMS = {
    "action": "regression",
    "action_token": "classification",
    "align": "classification",
    "recon_patch": "regression",
    "recon_token": "classification",
}


def aux_off(tasks: Sequence[str]) -> dict[str, Any]:
    """The baseline that trains the action tasks alone: fixed λ = 1 on them, 0 on the auxiliaries."""
    weights = {task: 1.0 if task in ACTION_TASKS else 0.0 for task in tasks}
    return {"strategy": "fixed", "strategy_params": {"weights": weights}}


def task_losses(model: ReferenceVLA, batch: VLABatch, tasks: Sequence[str]) -> dict[str, torch.Tensor]:
    """``{task: loss}`` for the tasks in use that this batch labels; each loss at its raw scale.

    Raw scales differ by orders of magnitude (action-token CE over 256 bins starts near 5.5, the
    action MSE near 0.3, masked-patch MSE near 0.05), which is what weighting and normalization
    are searched for.
    """
    outputs = model(batch)
    losses: dict[str, torch.Tensor] = {}
    if batch.action_count:
        if "action" in tasks:
            losses["action"] = action_regression_loss(outputs.actions, batch.actions)
        if "action_token" in tasks:
            losses["action_token"] = action_token_loss(outputs.action_logits, batch.action_tokens)
    if batch.caption_image_count and "align" in tasks:
        losses["align"] = info_nce(
            outputs.image_embeddings,
            outputs.caption_embeddings,
            temperature=model.temperature(),
            labels=batch.caption_labels,
        )
    scene_count = batch.caption_scene_count
    if scene_count:
        if "recon_patch" in tasks:
            scene_patches = to_patches(batch.images[-scene_count:])
            losses["recon_patch"] = masked_patch_loss(
                outputs.patch_predictions, scene_patches, batch.patch_mask[-scene_count:]
            )
        if "recon_token" in tasks:
            every_scene = torch.ones((scene_count, 1), dtype=torch.bool, device=batch.hidden_words.device)
            losses["recon_token"] = masked_token_loss(
                outputs.word_logits[:, None], batch.hidden_words[:, None], every_scene
            )
    return losses


def task_metrics(model: ReferenceVLA, val_batches: Sequence[VLABatch], tasks: Sequence[str]) -> dict[str, float]:
    """Validation metrics, ``"<task>/<metric>"``; ``action/mse`` is on held-out combinations (the objective)."""
    metrics: dict[str, float] = {}
    for batch in val_batches:
        outputs = model(batch)
        if batch.split == "held_out":
            if "action" in tasks:
                metrics["action/mse"] = _mse(outputs.actions, batch.actions)
            if "action_token" in tasks:
                predicted = outputs.action_logits.argmax(dim=-1)
                metrics["action_token/accuracy"] = (predicted == batch.action_tokens).float().mean().item()
        elif batch.split == "seen" and "action" in tasks:
            metrics["action/mse_seen"] = _mse(outputs.actions, batch.actions)
        elif batch.split == "caption":
            metrics.update(_caption_metrics(model, batch, outputs, tasks))
    return metrics


def _caption_metrics(model: ReferenceVLA, batch: VLABatch, outputs, tasks: Sequence[str]) -> Mapping[str, float]:
    metrics: dict[str, float] = {}
    if "align" in tasks:
        # Image → caption retrieval among the captions of all combinations (each one once).
        all_captions = torch.tensor(
            [scenes.text_tokens(scenes.CAPTION_TOKEN, combo) for combo in range(scenes.COMBINATIONS)],
            device=batch.captions.device,
        )
        caption_embeddings = nn.functional.normalize(model.caption_embedding(all_captions).float(), dim=-1)
        image_embeddings = nn.functional.normalize(outputs.image_embeddings.float(), dim=-1)
        retrieved = (image_embeddings @ caption_embeddings.T).argmax(dim=-1)
        metrics["align/recall_at_1"] = (retrieved == batch.caption_labels).float().mean().item()
    scene_count = batch.caption_scene_count
    if "recon_patch" in tasks:
        scene_patches = to_patches(batch.images[-scene_count:])
        hidden = batch.patch_mask[-scene_count:]
        errors = (outputs.patch_predictions.float() - scene_patches) ** 2
        metrics["recon_patch/mse"] = errors[hidden].mean().item()
    if "recon_token" in tasks:
        correct = outputs.word_logits.argmax(dim=-1) == batch.hidden_words
        metrics["recon_token/accuracy"] = correct.float().mean().item()
    return metrics


def _mse(predicted: torch.Tensor, target: torch.Tensor) -> float:
    return ((predicted.float() - target) ** 2).mean().item()


def shared_parameters(model: ReferenceVLA) -> list[nn.Parameter]:
    """The last shared layer of weights, GradNorm's W (Chen et al., 2018): the last fusion block's MLP output.

    Every task's gradient passes through it. Taking the whole block instead made a GradNorm step
    2.4× a plain one on the tiny model (per-task gradients back through attention), measured by
    ``benchmarks/strategy_cost.py``.
    """
    return list(model.fusion_blocks[-1].mlp[-1].parameters())
