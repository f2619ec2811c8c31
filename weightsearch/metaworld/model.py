"""A compact VLA policy for MetaWorld: image patches, instruction tokens and proprioception → a 4-D action."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from weightsearch.losses import ActionTokenizer, LearnableTemperature
from weightsearch.metaworld.instructions import TEXT_LENGTH, vocabulary
from weightsearch.vla.model import TransformerBlock

ACTION_DIMS = 4
ACTION_TOKENIZER = ActionTokenizer(-1.0, 1.0, bins=256)
PATCHES_PER_SIDE = 8


@dataclass(frozen=True)
class PolicyInputs:
    """One batch of observations, on the model's device."""

    images: torch.Tensor  # (B, 3, S, S) float in [0, 1]
    instructions: torch.Tensor  # (B, TEXT_LENGTH) long
    proprio: torch.Tensor  # (B, 4) float
    patch_mask: torch.Tensor | None = None  # (B, P) bool: patches replaced by a learned token


@dataclass(frozen=True)
class PolicyOutputs:
    """Every head's output for one batch; the task losses pick what they need."""

    actions: torch.Tensor  # (B, 4) in [-1, 1]
    action_logits: torch.Tensor  # (B, 4, bins)
    image_embeddings: torch.Tensor  # (B, d) image encoder only, for alignment
    instruction_embeddings: torch.Tensor  # (B, d) text encoder only, for alignment
    patch_predictions: torch.Tensor  # (B, P, patch pixels)
    word_logits: torch.Tensor  # (B, TEXT_LENGTH, vocabulary)


def to_patches(images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, S, S)`` → ``(B, 64, 3·(S/8)²)``: an 8×8 grid of flattened patches, row-major."""
    batch, channels, size, _ = images.shape
    patch = size // PATCHES_PER_SIDE
    grid = images.reshape(batch, channels, PATCHES_PER_SIDE, patch, PATCHES_PER_SIDE, patch)
    return grid.permute(0, 2, 4, 1, 3, 5).reshape(batch, PATCHES_PER_SIDE**2, channels * patch * patch)


class MetaWorldPolicy(nn.Module):
    """Separate image (ViT) and instruction encoders, a fusion transformer, and the co-training heads.

    The fused sequence is ``[action query, proprioception, instruction tokens, patches]``; the
    action query's final state gives the continuous action (tanh) and the 256-bin token logits
    per dimension (RT-2-style). The encoders' pooled states, before fusion, are the image and
    instruction embeddings aligned by InfoNCE, so alignment shapes the encoders the policy reads.
    """

    def __init__(self, image_size: int, dim: int = 64, heads: int = 4, fusion_layers: int = 2) -> None:
        super().__init__()
        patch_pixels = 3 * (image_size // PATCHES_PER_SIDE) ** 2
        patch_count = PATCHES_PER_SIDE**2
        vocabulary_size = len(vocabulary())
        self.patch_embedding = nn.Linear(patch_pixels, dim)
        self.hidden_patch = nn.Parameter(torch.randn(dim) * 0.02)
        self.patch_position = nn.Parameter(torch.randn(patch_count, dim) * 0.02)
        self.image_block = TransformerBlock(dim, heads, mlp_ratio=2)
        self.token_embedding = nn.Embedding(vocabulary_size, dim)
        self.text_position = nn.Parameter(torch.randn(TEXT_LENGTH, dim) * 0.02)
        self.text_block = TransformerBlock(dim, heads, mlp_ratio=2)
        self.proprio_embedding = nn.Linear(ACTION_DIMS, dim)
        self.action_query = nn.Parameter(torch.randn(dim) * 0.02)
        self.modality = nn.Parameter(torch.randn(3, dim) * 0.02)
        self.fusion_blocks = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio=2) for _ in range(fusion_layers))
        self.fusion_norm = nn.LayerNorm(dim)
        self.action_head = nn.Linear(dim, ACTION_DIMS)
        self.action_token_head = nn.Linear(dim, ACTION_DIMS * ACTION_TOKENIZER.bins)
        self.image_projection = nn.Linear(dim, dim)
        self.text_projection = nn.Linear(dim, dim)
        self.temperature = LearnableTemperature(initial_temperature=0.2, min_temperature=0.05, max_temperature=1.0)
        self.patch_head = nn.Linear(dim, patch_pixels)
        self.word_head = nn.Linear(dim, vocabulary_size)

    def forward(self, inputs: PolicyInputs) -> PolicyOutputs:
        patches = self.patch_embedding(to_patches(inputs.images))
        if inputs.patch_mask is not None:
            patches = torch.where(inputs.patch_mask[..., None], self.hidden_patch.to(patches.dtype), patches)
        patches = self.image_block(patches + self.patch_position)
        text = self.text_block(self.token_embedding(inputs.instructions) + self.text_position)
        batch = patches.shape[0]
        query = self.action_query.expand(batch, 1, -1).to(patches.dtype)
        proprio = self.proprio_embedding(inputs.proprio)[:, None]
        fused = torch.cat(
            [query, proprio + self.modality[0], text + self.modality[1], patches + self.modality[2]], dim=1
        )
        for block in self.fusion_blocks:
            fused = block(fused)
        fused = self.fusion_norm(fused)
        action_state = fused[:, 0]
        fused_text, fused_patches = fused[:, 2 : 2 + TEXT_LENGTH], fused[:, 2 + TEXT_LENGTH :]
        return PolicyOutputs(
            actions=torch.tanh(self.action_head(action_state)),
            action_logits=self.action_token_head(action_state).reshape(batch, ACTION_DIMS, ACTION_TOKENIZER.bins),
            image_embeddings=self.image_projection(patches.mean(dim=1)),
            instruction_embeddings=self.text_projection(text.mean(dim=1)),
            patch_predictions=self.patch_head(fused_patches),
            word_logits=self.word_head(fused_text),
        )

    def instruction_embedding(self, instructions: torch.Tensor) -> torch.Tensor:
        """Instruction tokens ``(N, L)`` → alignment embeddings ``(N, d)`` (text encoder only)."""
        text = self.text_block(self.token_embedding(instructions) + self.text_position)
        return self.text_projection(text.mean(dim=1))
