"""Masked token cross-entropy and masked patch MSE (MAE), against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from weightsearch.losses import masked_patch_loss, masked_token_loss

AUTOCAST_DTYPES = [torch.bfloat16, torch.float16]

LOGITS = [[[2.0, 0.0, -1.0], [0.3, 0.3, 0.3], [1.0, 2.0, 3.0]], [[-2.0, 4.0, 0.0], [0.5, -0.5, 1.5], [0.0, 0.0, 9.0]]]
TARGETS = [[0, 2, 1], [1, 0, 0]]
TOKEN_MASK = [[True, False, True], [False, True, False]]


def _cross_entropy(row: list[float], target: int) -> float:
    return math.log(sum(math.exp(value) for value in row)) - row[target]


def test_token_loss_averages_cross_entropy_over_masked_positions_only() -> None:
    loss = masked_token_loss(torch.tensor(LOGITS), torch.tensor(TARGETS), torch.tensor(TOKEN_MASK))
    expected = [
        _cross_entropy(LOGITS[b][n], TARGETS[b][n]) for b in range(2) for n in range(3) if TOKEN_MASK[b][n]
    ]
    assert loss.dtype == torch.float32 and loss.dim() == 0
    assert loss.item() == pytest.approx(sum(expected) / len(expected), rel=1e-6)


def test_token_loss_ignores_unmasked_positions_even_with_invalid_targets_there() -> None:
    logits = torch.tensor(LOGITS)
    reference = masked_token_loss(logits, torch.tensor(TARGETS), torch.tensor(TOKEN_MASK))
    changed = logits.clone()
    changed[0, 1] = torch.tensor([50.0, -50.0, 0.0])  # an unmasked position: must not count
    assert torch.equal(masked_token_loss(changed, torch.tensor(TARGETS), torch.tensor(TOKEN_MASK)), reference)


def test_token_loss_with_nothing_masked_is_exactly_zero_with_finite_gradient() -> None:
    logits = torch.tensor(LOGITS, requires_grad=True)
    loss = masked_token_loss(logits, torch.tensor(TARGETS), torch.zeros(2, 3, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and torch.equal(logits.grad, torch.zeros_like(logits))


def test_token_loss_gradcheck_float64() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 6, dtype=torch.float64, generator=generator, requires_grad=True)
    targets = torch.randint(0, 6, (2, 4), generator=generator)
    mask = torch.tensor([[True, False, True, True], [False, True, False, False]])
    assert torch.autograd.gradcheck(lambda x: masked_token_loss(x, targets, mask), (logits,))


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
def test_token_loss_under_autocast_with_large_logits(dtype: torch.dtype) -> None:
    torch.manual_seed(1)
    head = torch.nn.Linear(16, 64)
    features = torch.randn(3, 10, 16) * 100.0
    targets = torch.randint(0, 64, (3, 10))
    mask = torch.rand(3, 10) > 0.4
    with torch.autocast("cpu", dtype=dtype):
        logits = head(features)
        loss = masked_token_loss(logits, targets, mask)
    assert logits.dtype == dtype
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert loss.item() == pytest.approx(masked_token_loss(logits.float(), targets, mask).item(), rel=1e-5)
    assert loss.item() == pytest.approx(masked_token_loss(head(features), targets, mask).item(), rel=0.02)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"logits": torch.zeros(2, 3, 5, dtype=torch.long)}, "logits"),
        ({"logits": torch.zeros(2, 5)}, "logits"),
        ({"targets": torch.zeros(2, 3)}, "targets"),
        ({"targets": torch.zeros(2, 4, dtype=torch.long)}, "targets"),
        ({"mask": torch.ones(2, 3)}, "mask"),
        ({"mask": torch.ones(2, dtype=torch.bool)}, "mask"),
    ],
)
def test_token_loss_bad_arguments_raise_value_error_naming_them(kwargs: dict, argument: str) -> None:
    arguments = {
        "logits": torch.zeros(2, 3, 5),
        "targets": torch.zeros(2, 3, dtype=torch.long),
        "mask": torch.ones(2, 3, dtype=torch.bool),
    } | kwargs
    with pytest.raises(ValueError, match=argument):
        masked_token_loss(**arguments)


PRED = [[[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]], [[-1.0, 0.5, 0.0, 2.0], [4.0, 0.0, -4.0, 1.0]]]  # (2, 2, 4)
TARGET = [[[1.0, 1.0, 3.0, 5.0], [2.0, 2.0, 2.0, 2.0]], [[0.0, 0.0, 1.0, 1.0], [9.0, -3.0, 0.0, 2.0]]]
PATCH_MASK = [[True, True], [False, True]]


def _standardised(patch: list[float]) -> list[float]:
    mean = sum(patch) / len(patch)
    unbiased_variance = sum((value - mean) ** 2 for value in patch) / (len(patch) - 1)
    return [(value - mean) / math.sqrt(unbiased_variance + 1e-6) for value in patch]


def _reference_patch_loss(normalize_target: bool) -> float:
    per_patch = []
    for b in range(2):
        for n in range(2):
            if PATCH_MASK[b][n]:
                target = _standardised(TARGET[b][n]) if normalize_target else TARGET[b][n]
                per_patch.append(sum((p - t) ** 2 for p, t in zip(PRED[b][n], target)) / 4)
    return sum(per_patch) / len(per_patch)


@pytest.mark.parametrize("normalize_target", [False, True])
def test_patch_loss_matches_hand_computed_mse_over_masked_patches(normalize_target: bool) -> None:
    loss = masked_patch_loss(torch.tensor(PRED), torch.tensor(TARGET), torch.tensor(PATCH_MASK), normalize_target)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    assert loss.item() == pytest.approx(_reference_patch_loss(normalize_target), rel=1e-6)


def test_patch_normalisation_keeps_a_flat_patch_finite() -> None:
    # Target patch [2, 2, 2, 2] has zero variance: the epsilon keeps it at 0, not NaN.
    loss = masked_patch_loss(
        torch.zeros(1, 1, 4), torch.full((1, 1, 4), 2.0), torch.ones(1, 1, dtype=torch.bool), normalize_target=True
    )
    assert loss.item() == 0.0


@pytest.mark.parametrize("normalize_target", [False, True])
def test_patch_loss_with_nothing_masked_is_exactly_zero_with_finite_gradient(normalize_target: bool) -> None:
    pred = torch.tensor(PRED, requires_grad=True)
    loss = masked_patch_loss(pred, torch.tensor(TARGET), torch.zeros(2, 2, dtype=torch.bool), normalize_target)
    assert loss.item() == 0.0
    loss.backward()
    assert pred.grad is not None and torch.equal(pred.grad, torch.zeros_like(pred))


@pytest.mark.parametrize("normalize_target", [False, True])
def test_patch_loss_gradcheck_float64(normalize_target: bool) -> None:
    generator = torch.Generator().manual_seed(2)
    pred = torch.randn(2, 3, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    target = torch.randn(2, 3, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    mask = torch.tensor([[True, False, True], [False, True, True]])
    assert torch.autograd.gradcheck(lambda p, t: masked_patch_loss(p, t, mask, normalize_target), (pred, target))


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
@pytest.mark.parametrize("normalize_target", [False, True])
def test_patch_loss_under_autocast_with_large_inputs(dtype: torch.dtype, normalize_target: bool) -> None:
    torch.manual_seed(3)
    decoder = torch.nn.Linear(8, 12)
    features = torch.randn(2, 6, 8) * 3000.0  # reconstructions of ~1e3-1e4: squared they overflow fp16
    target = torch.randn(2, 6, 12) * 1000.0
    mask = torch.rand(2, 6) > 0.5
    with torch.autocast("cpu", dtype=dtype):
        pred = decoder(features)
        loss = masked_patch_loss(pred, target.to(dtype), mask, normalize_target)
    assert pred.dtype == dtype
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    same_inputs = masked_patch_loss(pred.float(), target.to(dtype).float(), mask, normalize_target)
    assert loss.item() == pytest.approx(same_inputs.item(), rel=1e-5)
    full_precision = masked_patch_loss(decoder(features), target, mask, normalize_target)
    assert loss.item() == pytest.approx(full_precision.item(), rel=0.02)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"pred": torch.zeros(2, 3, 4, dtype=torch.long)}, "pred"),
        ({"pred": torch.zeros(2, 3), "target": torch.zeros(2, 3)}, "pred"),
        ({"target": torch.zeros(2, 3, 5)}, "target"),
        ({"target": torch.zeros(2, 3, 4, dtype=torch.uint8)}, "target"),
        ({"mask": torch.ones(2, 3, dtype=torch.float32)}, "mask"),
        ({"mask": torch.ones(2, 3, 4, dtype=torch.bool)}, "mask"),
        ({"mask": torch.ones(2, dtype=torch.bool)}, "mask"),
        (
            {"pred": torch.zeros(2, 3, 1), "target": torch.zeros(2, 3, 1), "normalize_target": True},
            "normalize_target",
        ),
    ],
)
def test_patch_loss_bad_arguments_raise_value_error_naming_them(kwargs: dict, argument: str) -> None:
    arguments = {
        "pred": torch.zeros(2, 3, 4),
        "target": torch.zeros(2, 3, 4),
        "mask": torch.ones(2, 3, dtype=torch.bool),
    } | kwargs
    with pytest.raises(ValueError, match=argument):
        masked_patch_loss(**arguments)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_autocast_matches_cpu() -> None:
    generator = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 6, 32, generator=generator) * 100
    targets = torch.randint(0, 32, (2, 6), generator=generator)
    pred, patches = torch.randn(2, 6, 12, generator=generator) * 1e3, torch.randn(2, 6, 12, generator=generator)
    mask = torch.rand(2, 6, generator=generator) > 0.5
    with torch.autocast("cuda", dtype=torch.bfloat16):
        token = masked_token_loss(logits.cuda().bfloat16(), targets.cuda(), mask.cuda())
        patch = masked_patch_loss(pred.cuda().bfloat16(), patches.cuda(), mask.cuda(), normalize_target=True)
    expected_token = masked_token_loss(logits.bfloat16().float(), targets, mask)
    expected_patch = masked_patch_loss(pred.bfloat16().float(), patches, mask, normalize_target=True)
    assert token.device.type == "cuda" and patch.dtype == torch.float32
    assert token.item() == pytest.approx(expected_token.item(), rel=1e-4)
    assert patch.item() == pytest.approx(expected_patch.item(), rel=1e-4)
