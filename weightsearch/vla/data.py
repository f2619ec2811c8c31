"""Procedural co-training data: a small action-labelled set and a large label-free caption set.

As in real VLA co-training, items carry different labels. An *action item* is a 4-object scene,
an instruction ``"go <colour> <shape>"`` and the expert action (continuous and as tokens). A
*caption image* is one object with its caption ``"a <colour> <shape>"`` (for image–text
alignment). A *caption scene* has 3 objects of pairwise different colours and shapes, a caption
naming one of them with one word hidden (masked-word reconstruction), and hidden patches
(masked-patch reconstruction). Held-out colour–shape combinations never are action targets in
training; they do appear as distractors and in the caption set, which is what lets auxiliary
tasks carry grounding to them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from weightsearch.losses import ActionTokenizer
from weightsearch.vla import scenes

PATCH = 3
PATCHES_PER_SIDE = scenes.IMAGE_SIZE // PATCH
PATCH_COUNT = PATCHES_PER_SIDE**2
PATCH_PIXELS = 3 * PATCH * PATCH
PATCH_MASK_RATIO = 0.25
ACTION_TOKENIZER = ActionTokenizer(low=-1.0, high=1.0, bins=256)
# Validation sets use one fixed seed so every trial of a sweep is scored on the same scenes.
_VALIDATION_SEED = 20_251_125


def derived_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (e.g. the trial seed and a step), stable across processes."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass(frozen=True)
class VLABatch:
    """One mixed batch: action items first, then caption images, then caption scenes.

    ``images``/``texts``/``patch_mask`` cover all items (the fused input); the label tensors cover
    only the items of their kind, so their lengths give the item counts.
    """

    images: torch.Tensor  # (N, 3, H, W) float in [0, 1]
    texts: torch.Tensor  # (N, L) long: instruction; all-mask for caption images; caption with a hidden word
    patch_mask: torch.Tensor  # (N, PATCH_COUNT) bool, True where a patch is hidden
    actions: torch.Tensor  # (A, 2) float in [-1, 1]
    action_tokens: torch.Tensor  # (A, 2) long
    captions: torch.Tensor  # (S, L) long: caption of each caption image, encoded apart from the image
    caption_labels: torch.Tensor  # (S,) long: combination id (repeats are positives)
    hidden_words: torch.Tensor  # (M,) long: the word hidden in each caption scene
    split: str  # "train", "held_out", "seen" or "caption"

    @property
    def action_count(self) -> int:
        return self.actions.shape[0]

    @property
    def caption_image_count(self) -> int:
        return self.caption_labels.shape[0]

    @property
    def caption_scene_count(self) -> int:
        return self.hidden_words.shape[0]


@dataclass(frozen=True)
class _ActionSet:
    images: torch.Tensor  # uint8
    texts: torch.Tensor
    actions: torch.Tensor


@dataclass(frozen=True)
class _CaptionSet:
    images: torch.Tensor  # uint8
    texts: torch.Tensor  # full captions
    labels: torch.Tensor


def _action_set(size: int, targets: tuple[int, ...], rng: np.random.Generator, device: torch.device) -> _ActionSet:
    images, texts, actions = [], [], []
    for _ in range(size):
        target = int(rng.choice(targets))
        scene = scenes.place(scenes.action_objects(target, rng), rng)
        images.append(scenes.render(scene))
        texts.append(scenes.text_tokens(scenes.GO_TOKEN, target))
        actions.append(scenes.expert_action(scene, 0))
    return _ActionSet(
        images=torch.from_numpy(np.stack(images)).to(device),
        texts=torch.tensor(texts, dtype=torch.long, device=device),
        actions=torch.tensor(actions, dtype=torch.float32, device=device),
    )


def _caption_set(size: int, objects_per_image: int, rng: np.random.Generator, device: torch.device) -> _CaptionSet:
    images, texts, labels = [], [], []
    for _ in range(size):
        objects = scenes.caption_scene_objects(rng, objects_per_image)
        named = objects[int(rng.integers(len(objects)))]
        images.append(scenes.render(scenes.place(objects, rng)))
        texts.append(scenes.text_tokens(scenes.CAPTION_TOKEN, named))
        labels.append(named)
    return _CaptionSet(
        images=torch.from_numpy(np.stack(images)).to(device),
        texts=torch.tensor(texts, dtype=torch.long, device=device),
        labels=torch.tensor(labels, dtype=torch.long, device=device),
    )


def to_patches(images: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` → ``(N, PATCH_COUNT, PATCH_PIXELS)``, patches in row-major order."""
    count = images.shape[0]
    patches = images.reshape(count, 3, PATCHES_PER_SIDE, PATCH, PATCHES_PER_SIDE, PATCH)
    return patches.permute(0, 2, 4, 1, 3, 5).reshape(count, PATCH_COUNT, PATCH_PIXELS)


class ReferenceData:
    """The in-memory datasets of one trial and the deterministic batches drawn from them."""

    def __init__(
        self,
        *,
        seed: int,
        action_examples: int,
        caption_examples: int,
        validation_examples: int,
        device: torch.device,
    ) -> None:
        self.seed = seed
        self.device = device
        train_rng = np.random.default_rng(derived_seed(seed, "train"))
        self.actions = _action_set(action_examples, scenes.SEEN_COMBINATIONS, train_rng, device)
        self.caption_images = _caption_set(caption_examples // 2, 1, train_rng, device)
        self.caption_scenes = _caption_set(caption_examples - caption_examples // 2, 3, train_rng, device)

        val_rng = np.random.default_rng(_VALIDATION_SEED)
        held_out = _action_set(validation_examples, tuple(sorted(scenes.HELD_OUT_COMBINATIONS)), val_rng, device)
        seen = _action_set(validation_examples, scenes.SEEN_COMBINATIONS, val_rng, device)
        val_images = _caption_set(validation_examples, 1, val_rng, device)
        val_scenes = _caption_set(validation_examples, 3, val_rng, device)
        every = torch.arange(validation_examples, device=device)
        val_generator = torch.Generator().manual_seed(_VALIDATION_SEED)
        self.validation = (
            self._assemble(held_out, every, None, every[:0], None, every[:0], "held_out", val_generator),
            self._assemble(seen, every, None, every[:0], None, every[:0], "seen", val_generator),
            self._assemble(None, every[:0], val_images, every, val_scenes, every, "caption", val_generator),
        )

    def batch(self, step: int, action_count: int, caption_image_count: int, caption_scene_count: int) -> VLABatch:
        """The training batch of ``step``: a function of (seed, step) only, so resumed runs match."""
        generator = torch.Generator().manual_seed(derived_seed(self.seed, "step", step))

        def draw(pool_size: int, count: int) -> torch.Tensor:
            return torch.randint(pool_size, (count,), generator=generator).to(self.device)

        action_index = draw(self.actions.images.shape[0], action_count)
        image_index = draw(self.caption_images.images.shape[0], caption_image_count)
        scene_index = draw(self.caption_scenes.images.shape[0], caption_scene_count)
        return self._assemble(
            self.actions,
            action_index,
            self.caption_images,
            image_index,
            self.caption_scenes,
            scene_index,
            "train",
            generator,
        )

    def _assemble(
        self,
        actions: _ActionSet | None,
        action_index: torch.Tensor,
        caption_images: _CaptionSet | None,
        image_index: torch.Tensor,
        caption_scenes: _CaptionSet | None,
        scene_index: torch.Tensor,
        split: str,
        generator: torch.Generator,
    ) -> VLABatch:
        device = self.device
        empty_images = torch.zeros((0, 3, scenes.IMAGE_SIZE, scenes.IMAGE_SIZE), dtype=torch.uint8, device=device)
        empty_texts = torch.zeros((0, scenes.TEXT_LENGTH), dtype=torch.long, device=device)
        parts_images, parts_texts = [], []

        if actions is not None and action_index.numel():
            action_targets = actions.actions[action_index]
            parts_images.append(actions.images[action_index])
            parts_texts.append(actions.texts[action_index])
        else:
            action_targets = torch.zeros((0, 2), device=device)

        if caption_images is not None and image_index.numel():
            captions = caption_images.texts[image_index]
            caption_labels = caption_images.labels[image_index]
            parts_images.append(caption_images.images[image_index])
            # The image is fused with an all-mask text: its own caption must not leak into the image embedding.
            parts_texts.append(torch.full_like(captions, scenes.MASK_TOKEN))
        else:
            captions, caption_labels = empty_texts, torch.zeros((0,), dtype=torch.long, device=device)

        scene_count = scene_index.numel() if caption_scenes is not None else 0
        if scene_count:
            texts = caption_scenes.texts[scene_index].clone()
            hidden_position = torch.where(
                torch.rand(scene_count, generator=generator) < 0.5, scenes.COLOUR_POSITION, scenes.SHAPE_POSITION
            ).to(device)
            rows = torch.arange(scene_count, device=device)
            hidden_words = texts[rows, hidden_position]
            texts[rows, hidden_position] = scenes.MASK_TOKEN
            parts_images.append(caption_scenes.images[scene_index])
            parts_texts.append(texts)
        else:
            hidden_words = torch.zeros((0,), dtype=torch.long, device=device)

        images = torch.cat(parts_images or [empty_images]).float() / 255.0
        patch_mask = torch.zeros((images.shape[0], PATCH_COUNT), dtype=torch.bool, device=device)
        if scene_count:
            hidden_per_scene = round(PATCH_MASK_RATIO * PATCH_COUNT)
            order = torch.rand(scene_count, PATCH_COUNT, generator=generator).argsort(dim=1)[:, :hidden_per_scene]
            scene_mask = torch.zeros((scene_count, PATCH_COUNT), dtype=torch.bool)
            scene_mask.scatter_(1, order, True)
            patch_mask[images.shape[0] - scene_count :] = scene_mask.to(device)

        return VLABatch(
            images=images,
            texts=torch.cat(parts_texts or [empty_texts]),
            patch_mask=patch_mask,
            actions=action_targets,
            action_tokens=ACTION_TOKENIZER.encode(action_targets),
            captions=captions,
            caption_labels=caption_labels,
            hidden_words=hidden_words,
            split=split,
        )
