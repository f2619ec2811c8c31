"""Name registry of weighting strategies, and the resolution of a spec's strategy name or import path to a class."""

from __future__ import annotations

import importlib
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


def registered(kind: str, registry: dict[str, type], name: str) -> type:
    """``registry[name]``, or a ``UserError`` listing the valid names."""
    if name not in registry:
        raise UserError(f"unknown {kind} {name!r}; valid names: {sorted(registry)}")
    return registry[name]


def strategy_class(name: str) -> type[WeightingStrategy]:
    """The class a spec's strategy names: a registered name (``"gradnorm"``) or an import path (``"pkg.mod:Class"``).

    An imported class is not registered: resolving it changes nothing global.
    """
    if name in STRATEGIES or ":" not in name:
        return registered("strategy", STRATEGIES, name)
    return _imported_strategy(name)


def _imported_strategy(path: str) -> type[WeightingStrategy]:
    """The concrete ``WeightingStrategy`` subclass at ``"package.module:Class"``, or a one-line ``UserError``."""
    module_name, _, class_name = path.partition(":")
    if not all(part.isidentifier() for part in module_name.split(".")) or not class_name.isidentifier():
        raise UserError(
            f"strategy {path!r}: neither a registered name ({', '.join(sorted(STRATEGIES))}) nor an import path; "
            "write it like 'my_pkg.my_module:MyStrategy'"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and f"{module_name}.".startswith(f"{error.name}."):
            raise UserError(
                f"strategy {path!r}: module {module_name!r} not found; put it on PYTHONPATH or install it"
            ) from None
        raise UserError(
            f"strategy {path!r}: importing module {module_name!r} failed ({_one_line(error)}); install what it imports"
        ) from error
    except Exception as error:
        # Whatever the module's own code raises (a syntax error, a failing import) is the user's to fix.
        raise UserError(
            f"strategy {path!r}: importing module {module_name!r} failed ({_one_line(error)}); fix the module"
        ) from error
    if not hasattr(module, class_name):
        raise UserError(
            f"strategy {path!r}: module {module_name!r} has no attribute {class_name!r}; "
            "check the class name after the colon"
        )
    cls = getattr(module, class_name)
    if not (isinstance(cls, type) and issubclass(cls, WeightingStrategy)):
        what = "a class" if isinstance(cls, type) else f"a {type(cls).__name__}"
        raise UserError(
            f"strategy {path!r}: {class_name!r} is {what}, not a WeightingStrategy subclass; "
            "subclass weightsearch.weighting.WeightingStrategy"
        )
    if cls is WeightingStrategy or inspect.isabstract(cls):
        raise UserError(
            f"strategy {path!r}: {class_name!r} is abstract (it lacks {', '.join(sorted(cls.__abstractmethods__))}); "
            "name a subclass that implements them"
        )
    return cls


def _one_line(error: Exception) -> str:
    """``"Type: message"`` of ``error`` on one line, for a ``UserError`` that quotes it."""
    return " ".join(f"{type(error).__name__}: {error}".split())


def strategy_arguments(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword-only parameters of ``cls``'s constructor: the hyperparameters a spec may set (normalizers alike)."""
    return {
        name: parameter
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }


def build(kind: str, cls: type, name: str, tasks: Sequence[str], params: dict[str, Any]) -> Any:
    """``cls(tasks, **params)``; unknown or missing keywords are a ``UserError`` naming ``name`` as the spec has it."""
    accepted = strategy_arguments(cls)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise UserError(f"{kind} {name!r}: unknown parameter(s) {unknown}; valid parameters: {list(accepted)}")
    missing = sorted(
        argument
        for argument, parameter in accepted.items()
        if parameter.default is inspect.Parameter.empty and argument not in params
    )
    if missing:
        raise UserError(f"{kind} {name!r}: missing required parameter(s) {missing}")
    return cls(tasks, **params)


def make_strategy(name: str, tasks: Sequence[str], **params: Any) -> WeightingStrategy:
    """Build strategy ``name`` (registered, or ``"pkg.mod:Class"``) for ``tasks`` with hyperparameters ``params``."""
    return build("strategy", strategy_class(name), name, tasks, params)
