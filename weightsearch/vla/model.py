"""The reference VLA: ViT patch encoder, instruction encoder, fusion transformer, and the task heads."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from weightsearch.losses import LearnableTemperature
from weightsearch.vla import scenes
from weightsearch.vla.data import (
    ACTION_TOKENIZER,
    PATCH,
    PATCH_COUNT,
    PATCH_PIXELS,
    PATCHES_PER_SIDE,
    VLABatch,
    to_patches,
)


@dataclass(frozen=True)
class ModelSize:
    """Widths and depths of one model size."""

    dim: int
    heads: int
    image_layers: int
    text_layers: int
    fusion_layers: int
    mlp_ratio: int = 4


SIZES = {
    "tiny": ModelSize(dim=16, heads=2, image_layers=1, text_layers=1, fusion_layers=1, mlp_ratio=2),
    "small": ModelSize(dim=32, heads=4, image_layers=1, text_layers=1, fusion_layers=1, mlp_ratio=2),
    "base": ModelSize(dim=512, heads=8, image_layers=4, text_layers=2, fusion_layers=4),
}


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: ``x + Attn(LN(x))``, then ``x + MLP(LN(x))`` (Vaswani et al. 2017)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attention_out = nn.Linear(dim, dim)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, length, dim = tokens.shape
        qkv = self.qkv(self.attention_norm(tokens)).reshape(batch, length, 3, self.heads, dim // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        # Plain softmax attention: at ~70 tokens a fused kernel saves nothing measurable on CPU, and
        # the explicit form is the arithmetic the reference benchmark was measured with.
        weights = torch.softmax(query @ key.transpose(-2, -1) / math.sqrt(dim // self.heads), dim=-1)
        attended = (weights @ value).transpose(1, 2).reshape(batch, length, dim)
        tokens = tokens + self.attention_out(attended)
        return tokens + self.mlp(self.mlp_norm(tokens))


class PatchPointer(nn.Module):
    """Soft-argmax readout: a query attends over patch keys; the expected patch centre is a position.

    ``weights = softmax(q·k_p / √d)``, ``position = Σ_p weights_p · xy_p``, ``value = Σ_p weights_p · v_p``.
    Reading a position as an expectation over patches (soft-argmax, as in keypoint regression)
    has no predict-the-mean plateau: the gradient moves attention mass between objects.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        centres = (torch.arange(PATCHES_PER_SIDE, dtype=torch.float32) + 0.5) * PATCH / scenes.CELL - 0.5
        rows, cols = torch.meshgrid(centres, centres, indexing="ij")
        # Patch centres in cell units (x = column, y = row), matching the expert action's axes.
        self.register_buffer("patch_xy", torch.stack([cols.flatten(), rows.flatten()], dim=-1), persistent=False)

    def forward(self, queries: torch.Tensor, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``queries`` (B, d), ``patches`` (B, P, d) → positions (B, 2) in cell units, values (B, d)."""
        scores = torch.einsum("bd,bpd->bp", self.query(queries), self.key(patches)) / math.sqrt(queries.shape[-1])
        # Positions stay in float32 under autocast: bf16 would round a coordinate by up to ~0.01 cells.
        with torch.autocast(device_type=queries.device.type, enabled=False):
            weights = torch.softmax(scores.float(), dim=-1)
            positions = weights @ self.patch_xy
        values = torch.einsum("bp,bpd->bd", weights.to(patches.dtype), self.value(patches))
        return positions, values


class BinnedActionHead(nn.Module):
    """Action-token logits: a discretised Gaussian around the regressed action, with a learned width.

    ``logits_b = −(centre_b − â)² / (2σ²)`` over the tokenizer's bin centres, per action dimension.
    Tying the tokens to the pointer's action keeps the two action losses from pulling the shared
    readout apart: a free linear head on the read-out values, at λ = 1, held in-distribution action
    MSE at 29–39 ×10⁻³ against 0.2–1.3 ×10⁻³ without it. Cross-entropy on these logits is the
    likelihood of the true bin.
    """

    def __init__(self, initial_width: float = 0.5) -> None:
        super().__init__()
        centres = ACTION_TOKENIZER.decode(torch.arange(ACTION_TOKENIZER.bins)[:, None])[:, 0]
        self.register_buffer("centres", centres, persistent=False)
        self.log_width = nn.Parameter(torch.tensor(math.log(initial_width)))
        # Narrower than a bin, the likelihood only sharpens without changing the argmax.
        self.min_log_width = math.log(float(ACTION_TOKENIZER.bin_width))

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        """``actions`` (B, D) → logits (B, D, bins), in float32."""
        width = self.log_width.clamp(min=self.min_log_width).exp()
        return -((self.centres - actions.float()[..., None]) ** 2) / (2 * width**2)


@dataclass(frozen=True)
class VLAOutputs:
    """Head outputs for the items of a :class:`VLABatch` that each head applies to."""

    actions: torch.Tensor  # (A, 2) continuous action
    action_logits: torch.Tensor  # (A, 2, bins)
    image_embeddings: torch.Tensor  # (S, d) caption images
    caption_embeddings: torch.Tensor  # (S, d) their captions
    word_logits: torch.Tensor  # (M, vocabulary) hidden caption word of each caption scene
    patch_predictions: torch.Tensor  # (M, PATCH_COUNT, PATCH_PIXELS) pixels of each caption scene


class ReferenceVLA(nn.Module):
    """A small vision-language-action transformer with co-training heads.

    Patches (3×3 px, ViT) and instruction tokens are encoded separately, then fused by a joint
    transformer. Action: the fused instruction queries the fused patches (:class:`PatchPointer`)
    for the target position, a learned agent query for the agent position; action = their
    difference, and the action-token logits are a discretised Gaussian around it. Caption scenes reuse
    the same pointer: the caption with a hidden word queries the patches and the read-out value
    predicts the word, which grounds words in patches for the action readout. Caption images
    give pooled image and caption embeddings for InfoNCE; hidden patches are regressed in pixels.
    """

    def __init__(self, size: ModelSize) -> None:
        super().__init__()
        dim = size.dim
        self.patch_embedding = nn.Linear(PATCH_PIXELS, dim)
        self.hidden_patch = nn.Parameter(torch.randn(dim) * 0.02)
        self.patch_position = nn.Parameter(torch.randn(PATCH_COUNT, dim) * 0.02)
        self.image_blocks = nn.ModuleList(
            TransformerBlock(dim, size.heads, size.mlp_ratio) for _ in range(size.image_layers)
        )
        self.token_embedding = nn.Embedding(scenes.VOCABULARY_SIZE, dim)
        self.text_position = nn.Parameter(torch.randn(scenes.TEXT_LENGTH, dim) * 0.02)
        self.text_blocks = nn.ModuleList(
            TransformerBlock(dim, size.heads, size.mlp_ratio) for _ in range(size.text_layers)
        )
        self.modality = nn.Parameter(torch.randn(2, dim) * 0.02)
        self.fusion_blocks = nn.ModuleList(
            TransformerBlock(dim, size.heads, size.mlp_ratio) for _ in range(size.fusion_layers)
        )
        self.fusion_norm = nn.LayerNorm(dim)

        self.pointer = PatchPointer(dim)
        self.agent_query = nn.Parameter(torch.randn(dim))
        self.action_token_head = BinnedActionHead()
        self.word_head = nn.Linear(dim, scenes.VOCABULARY_SIZE)
        self.patch_head = nn.Linear(dim, PATCH_PIXELS)
        self.image_projection = nn.Linear(dim, dim)
        self.text_projection = nn.Linear(dim, dim)
        self.temperature = LearnableTemperature(initial_temperature=0.4, min_temperature=0.1, max_temperature=1.0)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(N, L)`` token ids → ``(N, L, d)`` text-encoder states."""
        states = self.token_embedding(tokens) + self.text_position
        for block in self.text_blocks:
            states = block(states)
        return states

    def caption_embedding(self, captions: torch.Tensor) -> torch.Tensor:
        """Caption tokens ``(S, L)`` → embeddings ``(S, d)`` for alignment (text encoder only)."""
        return self.text_projection(self.encode_text(captions).mean(dim=1))

    def forward(self, batch: VLABatch) -> VLAOutputs:
        patches = self.patch_embedding(to_patches(batch.images))
        patches = torch.where(batch.patch_mask[..., None], self.hidden_patch.to(patches.dtype), patches)
        patches = patches + self.patch_position
        for block in self.image_blocks:
            patches = block(patches)

        texts = self.encode_text(batch.texts)
        fused = torch.cat([texts + self.modality[0], patches + self.modality[1]], dim=1)
        for block in self.fusion_blocks:
            fused = block(fused)
        fused = self.fusion_norm(fused)
        fused_text, fused_patches = fused[:, : scenes.TEXT_LENGTH], fused[:, scenes.TEXT_LENGTH :]

        action_end = batch.action_count
        image_end = action_end + batch.caption_image_count

        instruction = fused_text[:action_end].mean(dim=1)
        action_patches = fused_patches[:action_end]
        target_xy, _ = self.pointer(instruction, action_patches)
        agent_xy, _ = self.pointer(self.agent_query.expand_as(instruction), action_patches)
        actions = (target_xy - agent_xy) / (scenes.GRID - 1)

        image_embeddings = self.image_projection(fused_patches[action_end:image_end].mean(dim=1))
        caption_embeddings = self.caption_embedding(batch.captions)

        _, word_value = self.pointer(fused_text[image_end:].mean(dim=1), fused_patches[image_end:])
        return VLAOutputs(
            actions=actions,
            action_logits=self.action_token_head(actions),
            image_embeddings=image_embeddings,
            caption_embeddings=caption_embeddings,
            word_logits=self.word_head(word_value),
            patch_predictions=self.patch_head(fused_patches[image_end:]),
        )
