"""The strategy and normalizer registries: lookup by name and UserErrors for bad specs."""

import pytest

from weightsearch.errors import UserError
from weightsearch.weighting import NORMALIZERS, STRATEGIES, FixedWeighting, make_normalizer, make_strategy


def test_make_strategy_builds_the_registered_class():
    strategy = make_strategy("fixed", ["a", "b"], weights={"a": 2.0})
    assert isinstance(strategy, FixedWeighting)
    assert strategy.name == "fixed" and strategy.tasks == ("a", "b")
    assert STRATEGIES["fixed"] is FixedWeighting


def test_unknown_strategy_lists_valid_names():
    with pytest.raises(UserError, match=r"'magic'.*'fixed'"):
        make_strategy("magic", ["a"])


def test_unknown_parameter_is_named():
    with pytest.raises(UserError, match=r"\['wieghts'\].*'weights'"):
        make_strategy("fixed", ["a"], wieghts={"a": 1.0})


def test_normalizers_are_registered_and_checked():
    assert set(NORMALIZERS) == {"none", "initial", "ema", "log"}
    with pytest.raises(UserError, match=r"'zscore'"):
        make_normalizer("zscore", ["a"])
    with pytest.raises(UserError, match=r"\['window'\]"):
        make_normalizer("ema", ["a"], window=3)
    with pytest.raises(UserError, match="'decay'"):
        make_normalizer("ema", ["a"], decay=1.0)
    with pytest.raises(UserError, match="'k'"):
        make_normalizer("initial", ["a"], k=0)
