import torch

from weightsearch.vla import SIZES, ReferenceVLA, build_reference, scenes
from weightsearch.vla.data import PATCH_COUNT, PATCH_PIXELS

CPU = torch.device("cpu")


def test_every_head_has_its_shape_at_tiny_size():
    components = build_reference({"size": "tiny"}, seed=0, batch_size=16, device=CPU)
    batch = components.train_batch(0)
    outputs = components.model(batch)
    actions, images, scenes_count = batch.action_count, batch.caption_image_count, batch.caption_scene_count
    assert (actions, images, scenes_count) == (8, 4, 4)
    assert outputs.actions.shape == (actions, 2)
    assert outputs.action_logits.shape == (actions, 2, 256)
    assert outputs.image_embeddings.shape == outputs.caption_embeddings.shape == (images, SIZES["tiny"].dim)
    assert outputs.word_logits.shape == (scenes_count, scenes.VOCABULARY_SIZE)
    assert outputs.patch_predictions.shape == (scenes_count, PATCH_COUNT, PATCH_PIXELS)
    assert outputs.actions.abs().max() <= 1.0 + 1e-6  # a difference of two positions on the board


def test_forward_is_finite_under_bf16_autocast():
    components = build_reference({"size": "tiny"}, seed=0, batch_size=16, device=CPU)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        losses = components.task_losses(components.model, components.train_batch(0))
    assert set(losses) == set(components.tasks)
    assert all(loss.dtype == torch.float32 and torch.isfinite(loss) for loss in losses.values())


def test_shared_parameters_receive_gradient_from_every_task():
    components = build_reference({"size": "tiny"}, seed=0, batch_size=16, device=CPU)
    model = components.model
    shared = components.shared_parameters(model)
    losses = components.task_losses(model, components.train_batch(0))
    for task, loss in losses.items():
        gradients = torch.autograd.grad(loss, shared, retain_graph=True, allow_unused=True)
        norm = sum(gradient.norm() ** 2 for gradient in gradients if gradient is not None)
        assert norm > 0, task


def test_sizes_grow_from_tiny_to_base():
    counts = {name: sum(p.numel() for p in ReferenceVLA(size).parameters()) for name, size in SIZES.items()}
    assert counts["tiny"] < counts["small"] < 1_000_000 < 10_000_000 < counts["base"]
