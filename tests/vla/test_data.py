import torch

from weightsearch.vla import build_reference, scenes
from weightsearch.vla.data import ACTION_TOKENIZER, PATCH_COUNT

CPU = torch.device("cpu")


def _build(seed=0, batch_size=16, **options):
    return build_reference({"size": "tiny", **options}, seed=seed, batch_size=batch_size, device=CPU)


def _combos(texts):
    colours = texts[:, scenes.COLOUR_POSITION] - scenes.COLOUR_TOKENS[0]
    shapes = texts[:, scenes.SHAPE_POSITION] - scenes.SHAPE_TOKENS[0]
    return (colours * len(scenes.SHAPES) + shapes).tolist()


def _equal(first, second):
    return all(
        torch.equal(getattr(first, name), getattr(second, name))
        for name in ("images", "texts", "patch_mask", "actions", "captions", "hidden_words")
    )


def test_train_batch_is_a_function_of_seed_and_step():
    first, again, other = _build(seed=3), _build(seed=3), _build(seed=4)
    assert _equal(first.train_batch(7), again.train_batch(7))
    assert _equal(first.train_batch(7), first.train_batch(7))
    assert not _equal(first.train_batch(7), first.train_batch(8))
    assert not _equal(first.train_batch(7), other.train_batch(7))


def test_batch_mixes_action_and_caption_items_by_caption_ratio():
    batch = _build(batch_size=20, caption_ratio=0.4).train_batch(0)
    assert batch.action_count == 12
    assert batch.caption_image_count == 4 and batch.caption_scene_count == 4
    assert batch.images.shape == (20, 3, scenes.IMAGE_SIZE, scenes.IMAGE_SIZE)
    assert batch.patch_mask[:16].sum() == 0 and batch.patch_mask[16:].sum() > 0
    assert torch.equal(batch.action_tokens, ACTION_TOKENIZER.encode(batch.actions))
    assert (batch.texts[12:16] == scenes.MASK_TOKEN).all()  # caption images see no caption
    assert ((batch.texts[16:] == scenes.MASK_TOKEN).sum(dim=1) == 1).all()


def test_held_out_combinations_are_never_training_action_targets():
    components = _build(batch_size=32)
    for step in range(30):
        batch = components.train_batch(step)
        assert not set(_combos(batch.texts[: batch.action_count])) & scenes.HELD_OUT_COMBINATIONS
    held_out, seen, captions = components.val_batches
    assert set(_combos(held_out.texts)) == scenes.HELD_OUT_COMBINATIONS
    assert not set(_combos(seen.texts)) & scenes.HELD_OUT_COMBINATIONS
    # The caption set covers the held-out combinations: that is what auxiliaries can transfer.
    assert set(captions.caption_labels.tolist()) >= scenes.HELD_OUT_COMBINATIONS


def test_validation_batches_are_the_same_for_every_trial_seed():
    first, other = _build(seed=0), _build(seed=1)
    for one, two in zip(first.val_batches, other.val_batches):
        assert _equal(one, two)
    assert [batch.split for batch in first.val_batches] == ["held_out", "seen", "caption"]
    assert first.val_batches[2].patch_mask.sum(dim=1).max() == round(0.25 * PATCH_COUNT)
