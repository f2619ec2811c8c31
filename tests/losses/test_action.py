"""Action regression, the action tokenizer and the action-token loss, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from weightsearch.losses import ActionTokenizer, action_regression_loss, action_token_loss

AUTOCAST_DTYPES = [torch.bfloat16, torch.float16]

PRED = [[[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]], [[-0.5, 3.0], [0.0, 0.2], [4.0, -2.0]]]  # (B=2, T=3, D=2)
TARGET = [[[0.0, 0.0], [1.0, 0.5], [1.0, -1.0]], [[0.5, 0.5], [0.1, 0.2], [0.0, 0.0]]]
TIMESTEP_MASK = [[True, True, False], [True, False, False]]


def _elementwise(kind: str, difference: float, delta: float) -> float:
    if kind == "mse":
        return difference**2
    if kind == "l1":
        return abs(difference)
    return 0.5 * difference**2 if abs(difference) <= delta else delta * (abs(difference) - 0.5 * delta)


def _reference_regression(kind: str, mask: list[list[bool]] | None, delta: float = 1.0) -> float:
    errors = []
    for b, item in enumerate(PRED):
        for t, step in enumerate(item):
            if mask is None or mask[b][t]:
                errors += [_elementwise(kind, p - q, delta) for p, q in zip(step, TARGET[b][t])]
    return sum(errors) / len(errors)


@pytest.mark.parametrize("kind", ["mse", "l1", "huber"])
@pytest.mark.parametrize("mask", [None, TIMESTEP_MASK])
def test_regression_matches_hand_computed_mean_over_valid_elements(kind: str, mask: list | None) -> None:
    loss = action_regression_loss(
        torch.tensor(PRED), torch.tensor(TARGET), None if mask is None else torch.tensor(mask), kind=kind
    )
    assert loss.dtype == torch.float32 and loss.dim() == 0
    assert loss.item() == pytest.approx(_reference_regression(kind, mask), rel=1e-6)


def test_huber_delta_changes_the_quadratic_region() -> None:
    loss = action_regression_loss(torch.tensor(PRED), torch.tensor(TARGET), kind="huber", huber_delta=0.3)
    assert loss.item() == pytest.approx(_reference_regression("huber", None, delta=0.3), rel=1e-6)


def test_item_mask_selects_whole_items() -> None:
    pred, target = torch.tensor(PRED), torch.tensor(TARGET)
    loss = action_regression_loss(pred, target, mask=torch.tensor([False, True]))
    assert torch.allclose(loss, action_regression_loss(pred[1:], target[1:]))


def test_garbage_in_masked_out_timesteps_is_ignored() -> None:
    pred = torch.tensor(PRED)
    pred[0, 2] = float("nan")
    pred[1, 1] = float("inf")
    loss = action_regression_loss(pred, torch.tensor(TARGET), torch.tensor(TIMESTEP_MASK))
    assert loss.item() == pytest.approx(_reference_regression("mse", TIMESTEP_MASK), rel=1e-6)


@pytest.mark.parametrize("kind", ["mse", "l1", "huber"])
def test_regression_with_nothing_valid_is_exactly_zero_with_finite_gradient(kind: str) -> None:
    pred = torch.tensor(PRED, requires_grad=True)
    loss = action_regression_loss(pred, torch.tensor(TARGET), torch.zeros(2, 3, dtype=torch.bool), kind=kind)
    assert loss.item() == 0.0
    loss.backward()
    assert pred.grad is not None and torch.equal(pred.grad, torch.zeros_like(pred))


@pytest.mark.parametrize("kind", ["mse", "l1", "huber"])
def test_regression_gradcheck_float64(kind: str) -> None:
    generator = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 4, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    target = torch.randn(3, 4, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    mask = torch.rand(3, 4, generator=generator) > 0.3
    assert torch.autograd.gradcheck(
        lambda p, t: action_regression_loss(p, t, mask, kind=kind, huber_delta=0.7), (pred, target)
    )


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
@pytest.mark.parametrize("kind", ["mse", "l1", "huber"])
def test_regression_under_autocast_with_large_inputs(dtype: torch.dtype, kind: str) -> None:
    torch.manual_seed(1)
    head = torch.nn.Linear(8, 7)
    features = torch.randn(4, 5, 8) * 3000.0
    target = torch.randn(4, 5, 7) * 100.0
    with torch.autocast("cpu", dtype=dtype):
        pred = head(features)  # errors of ~1e3-1e4: squared they overflow fp16
        loss = action_regression_loss(pred, target, torch.ones(4, 5, dtype=torch.bool), kind=kind)
    assert pred.dtype == dtype
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert loss.item() == pytest.approx(action_regression_loss(pred.float(), target, kind=kind).item(), rel=1e-5)
    assert loss.item() == pytest.approx(action_regression_loss(head(features), target, kind=kind).item(), rel=0.02)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"pred": torch.zeros(2, 3, 2, dtype=torch.long)}, "pred"),
        ({"target": torch.zeros(2, 3, 2, dtype=torch.int32)}, "target"),
        ({"target": torch.zeros(2, 3, 3)}, "target"),
        ({"mask": torch.ones(2, 3)}, "mask"),
        ({"mask": torch.ones(3, dtype=torch.bool)}, "mask"),
        ({"mask": torch.ones(2, 2, dtype=torch.bool)}, "mask"),
        ({"kind": "smooth"}, "kind"),
        ({"kind": "huber", "huber_delta": 0.0}, "huber_delta"),
    ],
)
def test_regression_bad_arguments_raise_value_error_naming_them(kwargs: dict, argument: str) -> None:
    arguments = {"pred": torch.zeros(2, 3, 2), "target": torch.zeros(2, 3, 2)} | kwargs
    with pytest.raises(ValueError, match=argument):
        action_regression_loss(**arguments)


def test_tokenizer_hand_computed_bins_and_centres() -> None:
    tokenizer = ActionTokenizer(-1.0, 1.0, bins=4)  # bins [-1,-.5) [-.5,0) [0,.5) [.5,1]
    assert tokenizer.bin_width.item() == pytest.approx(0.5)
    tokens = tokenizer.encode(torch.tensor([-1.0, -0.6, -0.1, 0.0, 0.1, 0.74, 1.0]))
    assert tokens.dtype == torch.long
    assert tokens.tolist() == [0, 0, 1, 2, 2, 3, 3]
    assert tokenizer.decode(torch.tensor([0, 1, 2, 3])).tolist() == pytest.approx([-0.75, -0.25, 0.25, 0.75])


def test_tokenizer_round_trip_is_within_half_a_bin() -> None:
    tokenizer = ActionTokenizer(-2.0, 3.0, bins=256)
    actions = torch.rand(500, 7, generator=torch.Generator().manual_seed(2)) * 5.0 - 2.0
    tokens = tokenizer.encode(actions)
    assert tokens.shape == actions.shape and int(tokens.min()) >= 0 and int(tokens.max()) <= 255
    error = (tokenizer.decode(tokens) - actions).abs().max().item()
    assert error <= tokenizer.bin_width.item() / 2 + 1e-6


def test_tokenizer_clips_actions_outside_the_bounds() -> None:
    tokenizer = ActionTokenizer(-1.0, 1.0, bins=8)
    tokens = tokenizer.encode(torch.tensor([-50.0, -1.01, 1.01, 1e6]))
    assert tokens.tolist() == [0, 0, 7, 7]
    assert tokenizer.decode(tokens).tolist() == pytest.approx([-0.875, -0.875, 0.875, 0.875])


def test_tokenizer_per_dimension_bounds() -> None:
    low, high = [-1.0, 0.0, -10.0], [1.0, 0.5, 10.0]
    tokenizer = ActionTokenizer(low, high, bins=10)
    assert tokenizer.bin_width.tolist() == pytest.approx([0.2, 0.05, 2.0])
    # Each column sits in bin 3 of its own range: low + 3.5 bin widths.
    actions = torch.tensor([[low[d] + 3.5 * (high[d] - low[d]) / 10 for d in range(3)]])
    assert tokenizer.encode(actions).tolist() == [[3, 3, 3]]
    random_actions = torch.rand(200, 3, generator=torch.Generator().manual_seed(3))
    random_actions = torch.tensor(low) + random_actions * (torch.tensor(high) - torch.tensor(low))
    error = (tokenizer.decode(tokenizer.encode(random_actions)) - random_actions).abs()
    assert (error <= tokenizer.bin_width / 2 + 1e-6).all()
    clipped = tokenizer.encode(torch.tensor([[2.0, -1.0, 11.0]]))
    assert clipped.tolist() == [[9, 0, 9]]
    assert ActionTokenizer(torch.tensor(low), torch.tensor(high), bins=10).encode(actions).tolist() == [[3, 3, 3]]


def test_tokenizer_works_under_autocast_and_in_half_precision() -> None:
    tokenizer = ActionTokenizer(-1.0, 1.0, bins=256)
    actions = torch.linspace(-0.99, 0.99, 50)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tokens = tokenizer.encode(actions.bfloat16())
    assert torch.equal(tokens, tokenizer.encode(actions.bfloat16().float()))


@pytest.mark.parametrize(
    ("low", "high", "bins", "argument"),
    [
        (1.0, 1.0, 8, "low"),
        ([0.0, 2.0], [1.0, 1.0], 8, "low"),
        ([0.0, 0.0], [1.0, 1.0, 1.0], 8, "low"),
        ([[0.0]], [[1.0]], 8, "low"),
        (0.0, float("inf"), 8, "high"),
        (0.0, 1.0, 1, "bins"),
        (0.0, 1.0, 2.5, "bins"),
    ],
)
def test_tokenizer_rejects_bad_bounds_and_bins(low, high, bins, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        ActionTokenizer(low, high, bins=bins)


def test_tokenizer_rejects_bad_inputs() -> None:
    tokenizer = ActionTokenizer([-1.0, -1.0], [1.0, 1.0], bins=16)
    with pytest.raises(ValueError, match="actions"):
        tokenizer.encode(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="actions"):
        tokenizer.encode(torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="tokens"):
        tokenizer.decode(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="tokens"):
        tokenizer.decode(torch.full((4, 2), 16))
    with pytest.raises(ValueError, match="tokens"):
        tokenizer.decode(torch.full((4, 2), -1))


def _reference_token_loss(logits: list[list[float]], tokens: list[int], smoothing: float) -> list[float]:
    losses = []
    for row, token in zip(logits, tokens):
        log_normaliser = math.log(sum(math.exp(value) for value in row))
        negative_log_probs = [log_normaliser - value for value in row]
        losses.append((1 - smoothing) * negative_log_probs[token] + smoothing * sum(negative_log_probs) / len(row))
    return losses


TOKEN_LOGITS = [[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 3.0, -2.0], [1.0, 1.0, 1.0, 1.0], [-3.0, 0.0, 0.5, 2.5]]
TOKENS = [0, 3, 1, 2]


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_token_loss_matches_hand_computed_cross_entropy(smoothing: float) -> None:
    logits = torch.tensor(TOKEN_LOGITS).reshape(2, 2, 4)  # (B, T, bins)
    loss = action_token_loss(logits, torch.tensor(TOKENS).reshape(2, 2), label_smoothing=smoothing)
    expected = _reference_token_loss(TOKEN_LOGITS, TOKENS, smoothing)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    assert loss.item() == pytest.approx(sum(expected) / 4, rel=1e-6)
    masked = action_token_loss(
        logits, torch.tensor(TOKENS).reshape(2, 2), smoothing, mask=torch.tensor([[True, False], [False, True]])
    )
    assert masked.item() == pytest.approx((expected[0] + expected[3]) / 2, rel=1e-6)


def test_token_loss_with_nothing_valid_is_exactly_zero_with_finite_gradient() -> None:
    logits = torch.randn(3, 4, 8, requires_grad=True)
    loss = action_token_loss(logits, torch.zeros(3, 4, dtype=torch.long), mask=torch.zeros(3, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and torch.equal(logits.grad, torch.zeros_like(logits))


def test_token_loss_gradcheck_float64() -> None:
    generator = torch.Generator().manual_seed(4)
    logits = torch.randn(3, 2, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    tokens = torch.randint(0, 5, (3, 2), generator=generator)
    mask = torch.tensor([[True, False], [True, True], [False, True]])
    assert torch.autograd.gradcheck(lambda x: action_token_loss(x, tokens, 0.1, mask), (logits,))


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
def test_token_loss_under_autocast_with_large_logits(dtype: torch.dtype) -> None:
    torch.manual_seed(5)
    head = torch.nn.Linear(16, 256)
    features = torch.randn(4, 7, 16) * 100.0  # logits of ~1e2-1e3: exp overflows any half type
    tokens = torch.randint(0, 256, (4, 7))
    with torch.autocast("cpu", dtype=dtype):
        logits = head(features)
        loss = action_token_loss(logits, tokens, label_smoothing=0.1)
    assert logits.dtype == dtype
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert loss.item() == pytest.approx(action_token_loss(logits.float(), tokens, 0.1).item(), rel=1e-5)
    assert loss.item() == pytest.approx(action_token_loss(head(features), tokens, 0.1).item(), rel=0.02)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"tokens": torch.zeros(2, 3)}, "tokens"),
        ({"tokens": torch.zeros(2, 3, dtype=torch.bool)}, "tokens"),
        ({"tokens": torch.zeros(2, 4, dtype=torch.long)}, "tokens"),
        ({"logits": torch.zeros(2, 3, 8, dtype=torch.long)}, "logits"),
        ({"logits": torch.zeros(8), "tokens": torch.tensor(0)}, "logits"),
        ({"mask": torch.ones(2, 3, dtype=torch.long)}, "mask"),
        ({"mask": torch.ones(3, dtype=torch.bool)}, "mask"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
    ],
)
def test_token_loss_bad_arguments_raise_value_error_naming_them(kwargs: dict, argument: str) -> None:
    arguments = {"logits": torch.zeros(2, 3, 8), "tokens": torch.zeros(2, 3, dtype=torch.long)} | kwargs
    with pytest.raises(ValueError, match=argument):
        action_token_loss(**arguments)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_autocast_matches_cpu() -> None:
    generator = torch.Generator().manual_seed(6)
    pred, target = torch.randn(4, 5, 7, generator=generator) * 1e3, torch.randn(4, 5, 7, generator=generator)
    mask = torch.rand(4, 5, generator=generator) > 0.5
    tokenizer = ActionTokenizer([-1.0] * 7, [1.0] * 7, bins=256)
    tokens = tokenizer.encode(target)
    logits = torch.randn(4, 5, 7, 256, generator=generator) * 50
    with torch.autocast("cuda", dtype=torch.bfloat16):
        regression = action_regression_loss(pred.cuda().bfloat16(), target.cuda(), mask.cuda(), kind="huber")
        token = action_token_loss(logits.cuda().bfloat16(), tokenizer.encode(target.cuda()), 0.1, mask.cuda())
    assert torch.equal(tokenizer.decode(tokens.cuda()).cpu(), tokenizer.decode(tokens))
    expected_regression = action_regression_loss(pred.bfloat16().float(), target, mask, kind="huber")
    expected_token = action_token_loss(logits.bfloat16().float(), tokens, 0.1, mask)
    assert regression.device.type == "cuda" and regression.dtype == torch.float32
    assert regression.item() == pytest.approx(expected_regression.item(), rel=1e-4)
    assert token.item() == pytest.approx(expected_token.item(), rel=1e-4)
