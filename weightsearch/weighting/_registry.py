"""Name registry of weighting strategies and loss normalizers, so specs can name them."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from weightsearch.errors import UserError
from weightsearch.weighting._base import WeightingStrategy

STRATEGIES: dict[str, type[WeightingStrategy]] = {}
"""Registered weighting strategies by the name a spec uses (``strategy: gradnorm``)."""

Registered = TypeVar("Registered", bound=type)


def registrar(registry: dict[str, Any], kind: str) -> Callable[[str], Callable[[Registered], Registered]]:
    """A class decorator factory that registers classes in ``registry`` by name (``kind`` names them in errors)."""

    def register_as(name: str) -> Callable[[Registered], Registered]:
        def decorate(cls: Registered) -> Registered:
            if name in registry:
                raise ValueError(f"a {kind} named {name!r} is already registered")
            cls.name = name
            registry[name] = cls
            return cls

        return decorate

    return register_as


register = registrar(STRATEGIES, "weighting strategy")
"""Class decorator that registers a strategy under a name: ``@register("gradnorm")``."""


def build(kind: str, registry: dict[str, type], name: str, tasks: Sequence[str], params: dict[str, Any]) -> Any:
    """Instantiate ``registry[name](tasks, **params)``, turning unknown names or keywords into a ``UserError``."""
    if name not in registry:
        raise UserError(f"{kind}: unknown name {name!r}; valid names: {sorted(registry)}")
    cls = registry[name]
    signature = inspect.signature(cls.__init__)
    accepted = [
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise UserError(f"{kind} {name!r}: unknown parameter(s) {unknown}; valid parameters: {accepted}")
    missing = sorted(
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        and parameter.default is inspect.Parameter.empty
        and parameter.name not in params
    )
    if missing:
        raise UserError(f"{kind} {name!r}: missing required parameter(s) {missing}")
    return cls(tasks, **params)


def make_strategy(name: str, tasks: Sequence[str], **params: Any) -> WeightingStrategy:
    """Build the strategy registered as ``name`` for ``tasks`` with hyperparameters ``params``."""
    return build("strategy", STRATEGIES, name, tasks, params)
