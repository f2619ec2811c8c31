"""Averaging training metrics between reports."""

from __future__ import annotations

import pytest

from weightsearch.trial.averager import MetricAverager


def test_each_metric_is_averaged_over_the_steps_that_produced_it():
    averager = MetricAverager()
    averager.add({"train/loss/a": 1.0, "train/loss/b": 10.0})
    averager.add({"train/loss/a": 3.0})
    averager.add({"train/loss/a": 5.0, "train/grad_norm/a": 0.5})
    assert averager.pop_means() == {"train/loss/a": 3.0, "train/loss/b": 10.0, "train/grad_norm/a": 0.5}


def test_pop_starts_a_new_window():
    averager = MetricAverager()
    averager.add({"x": 1.0})
    averager.pop_means()
    averager.add({"x": 4.0})
    assert averager.pop_means() == {"x": pytest.approx(4.0)}
    assert averager.pop_means() == {}
