"""Training and validation batches from cached demonstrations: frames, instructions, masks for reconstruction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from weightsearch.metaworld.collection import Demonstrations
from weightsearch.metaworld.instructions import MASK, PAD, instructions, tokenize
from weightsearch.metaworld.model import ACTION_TOKENIZER, PATCHES_PER_SIDE, PolicyInputs

PATCH_MASK_RATIO = 0.5
VALIDATION_FRAMES = 256


@dataclass(frozen=True)
class MetaWorldBatch:
    """Action-labelled frames, plus a masked copy of the first ``recon_count`` of them for reconstruction.

    Training batches mask a quarter of their frames; the validation batch masks all of them.
    """

    inputs: PolicyInputs
    actions: torch.Tensor  # (B, 4)
    action_tokens: torch.Tensor  # (B, 4) long
    task_ids: torch.Tensor  # (B,) long: alignment positives share a task
    masked: PolicyInputs  # the first recon_count items, with hidden patches and one hidden word each
    hidden_words: torch.Tensor  # (recon_count, TEXT_LENGTH) bool
    words: torch.Tensor  # (recon_count, TEXT_LENGTH) long: the unmasked instruction tokens


def images_to_tensor(images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """``(N, S, S, 3)`` uint8 → ``(N, 3, S, S)`` float in [0, 1] on ``device``."""
    return torch.as_tensor(images).to(device).permute(0, 3, 1, 2).float() / 255.0


class MetaWorldData:
    """Frames of the training episodes and a fixed validation batch from the held-out episodes.

    The last ``max(1, episodes // 5)`` episodes of each task are held out; validation pairs their
    frames with held-out instruction templates, training uses only the training templates.
    """

    def __init__(
        self,
        demonstrations: Demonstrations,
        tasks: tuple[str, ...],
        *,
        seed: int,
        batch_size: int,
        device: torch.device,
    ) -> None:
        self.seed, self.batch_size, self.device = seed, batch_size, device
        self.recon_count = max(1, batch_size // 4)
        episodes_per_task = np.bincount(demonstrations.episode_tasks, minlength=len(tasks))
        held_out = np.zeros(len(demonstrations.episode_tasks), dtype=bool)
        for task_index, count in enumerate(episodes_per_task):
            task_episodes = np.flatnonzero(demonstrations.episode_tasks == task_index)
            held_out[task_episodes[count - max(1, count // 5) :]] = True
        frame_held_out = held_out[demonstrations.episode_ids]
        self.train_frames = np.flatnonzero(~frame_held_out)
        self.images = torch.as_tensor(demonstrations.images).to(device)
        self.proprio = torch.as_tensor(demonstrations.proprio).to(device)
        self.actions = torch.as_tensor(demonstrations.actions).to(device)
        self.task_ids = torch.as_tensor(demonstrations.task_ids).to(device)
        self.train_instructions = [tokenize(instructions(task, "train")) for task in tasks]
        self.held_out_instructions = [tokenize(instructions(task, "held_out")) for task in tasks]

        validation = np.flatnonzero(frame_held_out)
        chosen = validation[np.linspace(0, len(validation) - 1, min(VALIDATION_FRAMES, len(validation))).astype(int)]
        generator = self._generator("validation", 0)
        # Every validation frame also gets a masked copy: reconstruction metrics over 8 items would be noise.
        self.validation = [self._batch(chosen, self.held_out_instructions, generator, recon_count=len(chosen))]

    def batch(self, step: int) -> MetaWorldBatch:
        """The training batch of ``step``: a deterministic function of (seed, step)."""
        generator = self._generator("train", step)
        picks = torch.randint(len(self.train_frames), (self.batch_size,), generator=generator).numpy()
        return self._batch(self.train_frames[picks], self.train_instructions, generator, self.recon_count)

    def _generator(self, purpose: str, step: int) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, step, purpose == "validation"]).generate_state(1)[0]
        return torch.Generator().manual_seed(int(state))

    def _batch(
        self, frames: np.ndarray, texts: list[torch.Tensor], generator: torch.Generator, recon_count: int
    ) -> MetaWorldBatch:
        task_ids = self.task_ids[torch.as_tensor(frames, device=self.device)].cpu()
        choices = [torch.randint(len(texts[task]), (1,), generator=generator) for task in task_ids.tolist()]
        tokens = torch.stack([texts[task][choice][0] for task, choice in zip(task_ids.tolist(), choices)])
        index = torch.as_tensor(frames, device=self.device)
        images = images_to_tensor(self.images[index], self.device)
        proprio = self.proprio[index]
        actions = self.actions[index]
        recon = min(recon_count, len(frames))
        patch_scores = torch.rand((recon, PATCHES_PER_SIDE**2), generator=generator)
        patch_mask = patch_scores.argsort(dim=1).argsort(dim=1) < round(PATCH_MASK_RATIO * PATCHES_PER_SIDE**2)
        hidden_words = _one_word_each(tokens[:recon], generator)
        masked_tokens = torch.where(hidden_words, torch.tensor(MASK), tokens[:recon])
        return MetaWorldBatch(
            inputs=PolicyInputs(images=images, instructions=tokens.to(self.device), proprio=proprio),
            actions=actions,
            action_tokens=ACTION_TOKENIZER.encode(actions.cpu()).to(self.device),
            task_ids=task_ids.to(self.device),
            masked=PolicyInputs(
                images=images[:recon],
                instructions=masked_tokens.to(self.device),
                proprio=proprio[:recon],
                patch_mask=patch_mask.to(self.device),
            ),
            hidden_words=hidden_words.to(self.device),
            words=tokens[:recon].to(self.device),
        )


def _one_word_each(tokens: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A mask hiding one random non-padding word of each instruction."""
    lengths = (tokens != PAD).sum(dim=1)
    positions = (torch.rand(len(tokens), generator=generator) * lengths).long()
    return torch.arange(tokens.shape[1])[None] == positions[:, None]
