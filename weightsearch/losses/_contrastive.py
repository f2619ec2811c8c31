"""Image–text alignment: symmetric InfoNCE with an optional learnable temperature (CLIP)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from weightsearch.losses._checks import require_floating, require_integer, require_shape
from weightsearch.losses._reduction import upcast


def info_nce(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    temperature: float | torch.Tensor = 0.07,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE between paired (B, D) embeddings (CLIP, Radford et al. 2021; van den Oord et al. 2018).

    ``s_ij = cos(image_i, text_j) / temperature``; the loss is the mean of the image→text and
    text→image cross-entropies, ``-log(exp(s_ii) / Σ_j exp(s_ij))`` averaged over rows.

    ``labels`` (B,) integers (e.g. instruction ids) mark in-batch items that share a label as
    positives instead of negatives, in the multi-positive form of MIL-NCE (Miech et al. 2020)::

        loss_i = -log( Σ_{j: labels_j = labels_i} exp(s_ij) / Σ_j exp(s_ij) )

    i.e. minus the log of the probability mass on the positive set. SupCon (Khosla et al. 2020)
    calls this ``L_in`` (up to the constant ``log |P(i)|``) and prefers ``L_out``, the mean over
    positives of ``-log(exp(s_ip) / Σ_j exp(s_ij))``. ``L_out`` is minimal only when the mass is
    split evenly over the positives and its minimum is ``log |P(i)| > 0``, which punishes the model
    for preferring the item's own caption among captions with the same instruction — captions that
    are often word-for-word identical here. The form above is satisfied by any split inside the
    positive set, reaches 0, and equals plain InfoNCE exactly when all labels are distinct.

    ``temperature`` is a positive float or a 0-d tensor (e.g. from `LearnableTemperature`).
    Returns a scalar in float32 (float64 for float64 inputs), also under bf16/fp16 autocast.
    """
    require_floating("image_emb", image_emb)
    require_floating("text_emb", text_emb)
    if image_emb.dim() != 2:
        raise ValueError(f"image_emb must have shape (B, D), got {tuple(image_emb.shape)}")
    require_shape("text_emb", text_emb, image_emb.shape, "image_emb")
    if isinstance(temperature, torch.Tensor):
        require_floating("temperature", temperature)
        if temperature.dim() != 0:
            raise ValueError(f"temperature must be a float or a 0-d tensor, got shape {tuple(temperature.shape)}")
    elif not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if labels is not None:
        require_integer("labels", labels)
        require_shape("labels", labels, image_emb.shape[:1], "the batch size of image_emb")

    # The similarity matmul is the one op autocast would run in bf16/fp16; bf16 rounds a cosine
    # by up to ~4e-3, which 1/τ = 100 turns into ~0.4 on a logit, so it stays in float32.
    with torch.autocast(device_type=image_emb.device.type, enabled=False):
        images = F.normalize(upcast(image_emb), dim=-1)
        texts = F.normalize(upcast(text_emb), dim=-1)
        logits = images @ texts.T
        if isinstance(temperature, torch.Tensor):
            logits = logits / upcast(temperature)
        else:
            logits = logits / temperature
        if labels is None:
            targets = torch.arange(logits.shape[0], device=logits.device)
            return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
        positives = labels[:, None] == labels[None, :]  # symmetric, so it serves both directions
        return (_multi_positive_nce(logits, positives) + _multi_positive_nce(logits.T, positives)) / 2


def _multi_positive_nce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ``-log(Σ_positives exp(s) / Σ_all exp(s))``; the diagonal is always a positive."""
    positive_logits = logits.masked_fill(~positives, float("-inf"))
    return (torch.logsumexp(logits, dim=1) - torch.logsumexp(positive_logits, dim=1)).mean()


class LearnableTemperature(nn.Module):
    """A learnable InfoNCE temperature τ, parametrised as ``log(1/τ)`` and clamped (CLIP, Radford et al. 2021).

    The log parametrisation keeps τ positive and makes the optimizer's steps relative; the
    clamp ``min_temperature ≤ τ ≤ max_temperature`` (CLIP: ``1/τ ≤ 100``) stops the logits
    from growing without bound (min) or flattening the softmax to uniform (max).
    Exclude ``log_inverse_temperature`` from weight decay, as CLIP does: decay pulls τ to 1.
    """

    def __init__(
        self,
        initial_temperature: float = 0.07,
        min_temperature: float = 0.01,
        max_temperature: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0 < min_temperature <= initial_temperature <= max_temperature:
            raise ValueError(
                "need 0 < min_temperature <= initial_temperature <= max_temperature, got "
                f"{min_temperature}, {initial_temperature}, {max_temperature}"
            )
        self.min_temperature = min_temperature
        self.max_temperature = max_temperature
        self.log_inverse_temperature = nn.Parameter(torch.tensor(math.log(1 / initial_temperature)))

    def forward(self) -> torch.Tensor:
        """Return the current temperature τ as a 0-d tensor (differentiable inside the clamp range)."""
        log_inverse = self.log_inverse_temperature.clamp(
            min=math.log(1 / self.max_temperature), max=math.log(1 / self.min_temperature)
        )
        return torch.exp(-log_inverse)

    def extra_repr(self) -> str:
        return f"min_temperature={self.min_temperature}, max_temperature={self.max_temperature}"
