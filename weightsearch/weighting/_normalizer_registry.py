"""Name registry of loss normalizers, so specs can name them (``normalization: ema``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from weightsearch.weighting._normalizer_base import LossNormalizer
from weightsearch.weighting._registry import build, registered, registrar

NORMALIZERS: dict[str, type[LossNormalizer]] = {}
"""Registered loss normalizers by the name a spec uses (``normalization: ema``)."""

register_normalizer = registrar(NORMALIZERS, "loss normalizer")
"""Class decorator that registers a loss normalizer under a name: ``@register_normalizer("ema")``."""


def make_normalizer(name: str, tasks: Sequence[str], **params: Any) -> LossNormalizer:
    """Build the normalizer registered as ``name`` for ``tasks`` with parameters ``params``."""
    return build("normalization", registered("normalization", NORMALIZERS, name), name, tasks, params)
