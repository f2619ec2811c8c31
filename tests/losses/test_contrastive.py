"""InfoNCE (plain and multi-positive) and the learnable temperature, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from weightsearch.losses import LearnableTemperature, info_nce

AUTOCAST_DTYPES = [torch.bfloat16, torch.float16]


def _normalized_rows(matrix: list[list[float]]) -> list[list[float]]:
    return [[value / math.sqrt(sum(v * v for v in row)) for value in row] for row in matrix]


def _reference_info_nce(images: list[list[float]], texts: list[list[float]], temperature: float, labels=None) -> float:
    """The symmetric (multi-positive) InfoNCE written out with loops over python floats."""
    images, texts = _normalized_rows(images), _normalized_rows(texts)
    size = len(images)
    labels = labels if labels is not None else list(range(size))
    sims = [[sum(a * b for a, b in zip(images[i], texts[j])) / temperature for j in range(size)] for i in range(size)]

    def direction(matrix: list[list[float]]) -> float:
        total = 0.0
        for i in range(size):
            positive_mass = sum(math.exp(matrix[i][j]) for j in range(size) if labels[j] == labels[i])
            all_mass = sum(math.exp(matrix[i][j]) for j in range(size))
            total += -math.log(positive_mass / all_mass)
        return total / size

    transposed = [[sims[j][i] for j in range(size)] for i in range(size)]
    return (direction(sims) + direction(transposed)) / 2


IMAGES = [[1.0, 0.0, 2.0], [0.5, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 2.0, -0.5]]
TEXTS = [[0.9, 0.2, 1.5], [0.4, -1.2, 0.3], [-0.7, 1.1, 0.6], [0.3, 1.0, 0.2]]


def test_matches_hand_computed_symmetric_cross_entropy() -> None:
    loss = info_nce(torch.tensor(IMAGES), torch.tensor(TEXTS), temperature=0.5)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    assert loss.item() == pytest.approx(_reference_info_nce(IMAGES, TEXTS, 0.5), rel=1e-5)


def test_scale_of_embeddings_does_not_matter() -> None:
    images, texts = torch.tensor(IMAGES), torch.tensor(TEXTS)
    assert torch.allclose(info_nce(images, texts), info_nce(images * 37.0, texts * 0.01), rtol=1e-5)


def test_labels_match_hand_computed_multi_positive_form() -> None:
    labels = [0, 1, 0, 2]
    loss = info_nce(torch.tensor(IMAGES), torch.tensor(TEXTS), temperature=0.2, labels=torch.tensor(labels))
    assert loss.item() == pytest.approx(_reference_info_nce(IMAGES, TEXTS, 0.2, labels), rel=1e-5)


def test_shared_label_lowers_the_loss_compared_with_treating_it_as_negative() -> None:
    images, texts = torch.tensor(IMAGES), torch.tensor(TEXTS)
    as_negatives = info_nce(images, texts, labels=torch.tensor([0, 1, 2, 3]))
    as_positives = info_nce(images, texts, labels=torch.tensor([0, 1, 0, 3]))
    assert as_positives < as_negatives


def test_distinct_labels_equal_plain_info_nce() -> None:
    generator = torch.Generator().manual_seed(0)
    images, texts = torch.randn(6, 5, generator=generator), torch.randn(6, 5, generator=generator)
    plain = info_nce(images, texts, temperature=0.1)
    labelled = info_nce(images, texts, temperature=0.1, labels=torch.tensor([5, 3, 9, 0, 1, 7]))
    assert torch.allclose(plain, labelled, rtol=1e-6, atol=1e-7)


def test_identical_captions_sharing_a_label_can_reach_zero_loss() -> None:
    # Two images with the same instruction and an identical caption: a perfect model cannot tell the
    # captions apart, so the loss must not stay bounded away from 0 (as SupCon's L_out would).
    images = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    texts = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    loss = info_nce(images, texts, temperature=0.01, labels=torch.tensor([4, 4, 2]))
    assert loss.item() < 1e-6


def test_tensor_temperature_equals_float_and_gets_a_gradient() -> None:
    images, texts = torch.tensor(IMAGES), torch.tensor(TEXTS)
    temperature = torch.tensor(0.3, requires_grad=True)
    loss = info_nce(images, texts, temperature=temperature)
    assert torch.allclose(loss, info_nce(images, texts, temperature=0.3))
    loss.backward()
    assert temperature.grad is not None and torch.isfinite(temperature.grad)


def test_gradcheck_float64_with_labels_and_temperature() -> None:
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(5, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    texts = torch.randn(5, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    temperature = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 0, 2, 1])
    assert info_nce(images, texts, temperature, labels).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda i, t, tau: info_nce(i, t, tau, labels), (images, texts, temperature))
    assert torch.autograd.gradcheck(lambda i, t, tau: info_nce(i, t, tau), (images, texts, temperature))


@pytest.mark.parametrize("dtype", AUTOCAST_DTYPES)
def test_autocast_with_large_inputs_is_finite_and_close_to_float32(dtype: torch.dtype) -> None:
    torch.manual_seed(2)
    projection = torch.nn.Linear(16, 8)
    features = torch.randn(2, 8, 16) * 4000.0  # projections reach ~5e3: their squares overflow fp16
    labels = torch.tensor([0, 1, 0, 2, 3, 1, 4, 5])
    with torch.autocast("cpu", dtype=dtype):
        images, texts = projection(features[0]), projection(features[1])
        loss = info_nce(images, texts, temperature=0.01, labels=labels)
    assert images.dtype == dtype
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    # Same half-precision embeddings, loss computed without autocast: the loss adds no rounding of its own.
    assert loss.item() == pytest.approx(info_nce(images.float(), texts.float(), 0.01, labels).item(), rel=1e-5)
    full_precision = info_nce(projection(features[0]), projection(features[1]), 0.01, labels)
    assert loss.item() == pytest.approx(full_precision.item(), rel=0.1, abs=0.1)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"image_emb": torch.zeros(4, 3, dtype=torch.long)}, "image_emb"),
        ({"image_emb": torch.zeros(4)}, "image_emb"),
        ({"text_emb": torch.zeros(4, 2)}, "text_emb"),
        ({"text_emb": torch.zeros(3, 3)}, "text_emb"),
        ({"labels": torch.zeros(4)}, "labels"),
        ({"labels": torch.zeros(3, dtype=torch.long)}, "labels"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": torch.ones(2)}, "temperature"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs: dict, argument: str) -> None:
    arguments = {"image_emb": torch.ones(4, 3), "text_emb": torch.ones(4, 3)} | kwargs
    with pytest.raises(ValueError, match=argument):
        info_nce(**arguments)


def test_learnable_temperature_starts_at_initial_value_and_trains() -> None:
    temperature = LearnableTemperature()
    assert temperature().item() == pytest.approx(0.07, rel=1e-6)
    assert temperature.log_inverse_temperature.item() == pytest.approx(math.log(1 / 0.07))
    loss = info_nce(torch.tensor(IMAGES), torch.tensor(TEXTS), temperature=temperature())
    loss.backward()
    assert temperature.log_inverse_temperature.grad is not None
    assert temperature.log_inverse_temperature.grad.item() != 0.0


def test_learnable_temperature_is_clamped_to_its_bounds() -> None:
    temperature = LearnableTemperature()
    with torch.no_grad():
        temperature.log_inverse_temperature.fill_(10.0)  # 1/τ = e^10 before the clamp
    assert 1 / temperature().item() == pytest.approx(100.0, rel=1e-5)
    bounded = LearnableTemperature(initial_temperature=0.2, min_temperature=0.05, max_temperature=0.5)
    with torch.no_grad():
        bounded.log_inverse_temperature.fill_(-10.0)
    assert bounded().item() == pytest.approx(0.5, rel=1e-5)
    with torch.no_grad():
        bounded.log_inverse_temperature.fill_(10.0)
    assert bounded().item() == pytest.approx(0.05, rel=1e-5)


@pytest.mark.parametrize(
    "bounds", [(0.07, 0.1, 1.0), (0.07, 0.01, 0.05), (0.07, 0.0, 1.0), (0.07, 0.5, 0.2)]
)
def test_learnable_temperature_rejects_inconsistent_bounds(bounds: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="min_temperature"):
        LearnableTemperature(*bounds)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_autocast_matches_cpu() -> None:
    generator = torch.Generator().manual_seed(3)
    images, texts = torch.randn(8, 16, generator=generator) * 1e3, torch.randn(8, 16, generator=generator) * 1e3
    labels = torch.tensor([0, 1, 0, 2, 3, 1, 4, 5])
    temperature = LearnableTemperature().cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = info_nce(images.cuda().bfloat16(), texts.cuda().bfloat16(), temperature(), labels.cuda())
    expected = info_nce(images.bfloat16().float(), texts.bfloat16().float(), 0.07, labels)
    assert loss.device.type == "cuda" and loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
