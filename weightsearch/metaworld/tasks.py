"""From the policy's outputs to task losses (raw scales) and validation metrics, closed-loop success included."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from weightsearch.losses import (
    action_regression_loss,
    action_token_loss,
    info_nce,
    masked_patch_loss,
    masked_token_loss,
)
from weightsearch.metaworld.data import MetaWorldBatch, images_to_tensor
from weightsearch.metaworld.instructions import instructions, tokenize
from weightsearch.metaworld.model import MetaWorldPolicy, PolicyInputs, to_patches
from weightsearch.metaworld.rollout import Observations



def task_losses(model: MetaWorldPolicy, batch: MetaWorldBatch, tasks: Sequence[str]) -> dict[str, torch.Tensor]:
    """``{task: loss}`` for the tasks in use, each at its raw scale; alignment positives share a MetaWorld task."""
    outputs = model(batch.inputs)
    losses: dict[str, torch.Tensor] = {}
    if "action" in tasks:
        losses["action"] = action_regression_loss(outputs.actions, batch.actions)
    if "action_token" in tasks:
        losses["action_token"] = action_token_loss(outputs.action_logits, batch.action_tokens)
    if "align" in tasks:
        losses["align"] = info_nce(
            outputs.image_embeddings,
            outputs.instruction_embeddings,
            temperature=model.temperature(),
            labels=batch.task_ids,
        )
    if "recon_patch" in tasks or "recon_token" in tasks:
        masked = model(batch.masked)
        if "recon_patch" in tasks:
            losses["recon_patch"] = masked_patch_loss(
                masked.patch_predictions, to_patches(batch.masked.images), batch.masked.patch_mask
            )
        if "recon_token" in tasks:
            losses["recon_token"] = masked_token_loss(masked.word_logits, batch.words, batch.hidden_words)
    return losses


def offline_metrics(
    model: MetaWorldPolicy, val_batches: Sequence[MetaWorldBatch], tasks: Sequence[str], task_names: Sequence[str]
) -> dict[str, float]:
    """Metrics on held-out episodes and instructions: action MSE, token accuracy, retrieval, reconstruction."""
    metrics: dict[str, float] = {}
    for batch in val_batches:
        outputs = model(batch.inputs)
        if "action" in tasks:
            metrics["action/mse"] = ((outputs.actions.float() - batch.actions) ** 2).mean().item()
        if "action_token" in tasks:
            correct = outputs.action_logits.argmax(dim=-1) == batch.action_tokens
            metrics["action_token/accuracy"] = correct.float().mean().item()
        if "align" in tasks:
            # Image → task retrieval among one held-out instruction per task.
            candidates = tokenize([instructions(task, "held_out")[0] for task in task_names]).to(batch.task_ids.device)
            text = nn.functional.normalize(model.instruction_embedding(candidates).float(), dim=-1)
            image = nn.functional.normalize(outputs.image_embeddings.float(), dim=-1)
            metrics["align/recall_at_1"] = ((image @ text.T).argmax(dim=-1) == batch.task_ids).float().mean().item()
        if "recon_patch" in tasks or "recon_token" in tasks:
            masked = model(batch.masked)
            if "recon_patch" in tasks:
                errors = (masked.patch_predictions.float() - to_patches(batch.masked.images)) ** 2
                metrics["recon_patch/mse"] = errors[batch.masked.patch_mask].mean().item()
            if "recon_token" in tasks:
                correct = masked.word_logits.argmax(dim=-1) == batch.words
                metrics["recon_token/accuracy"] = correct[batch.hidden_words].float().mean().item()
    return metrics


def policy_of(model: MetaWorldPolicy) -> Callable[[Observations], np.ndarray]:
    """The trained model as a closed-loop policy: images, held-out instruction and proprioception → actions."""
    device = next(model.parameters()).device

    @torch.no_grad()
    def act(observations: Observations) -> np.ndarray:
        inputs = PolicyInputs(
            images=images_to_tensor(observations.images, device),
            instructions=observations.instructions.to(device),
            proprio=torch.as_tensor(observations.proprio, device=device),
        )
        return model(inputs).actions.float().cpu().numpy()

    return act


def shared_parameters(model: MetaWorldPolicy) -> list[nn.Parameter]:
    """The last shared layer of weights, GradNorm's W (Chen et al., 2018): the last fusion block's MLP output.

    Every task's gradient passes through it. Taking the whole block instead made a GradNorm step
    2.4× a plain one on the tiny model (per-task gradients back through attention), measured by
    ``benchmarks/strategy_cost.py``.
    """
    return list(model.fusion_blocks[-1].mlp[-1].parameters())
