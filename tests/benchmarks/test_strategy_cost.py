"""The strategy step-cost suite runs every row on the reference model and reports its three targets."""

from __future__ import annotations

import json

import pytest

from benchmarks import strategy_cost
from benchmarks.common import write_report


def test_one_round_times_every_row_and_writes_the_report(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(strategy_cost, "QUICK", strategy_cost.Plan(rounds=2, steps_per_round=1, warmup_rounds=0))

    report = strategy_cost.run(quick=True, out_dir=tmp_path)

    expected = [strategy_cost.PLAIN, *(row.label for row in strategy_cost.ROWS)]
    assert list(report.results["step_ms"]) == expected
    assert all(len(times) == 2 and min(times) > 0 for times in report.results["step_ms"].values())
    assert report.results["ratio"][strategy_cost.PLAIN] == [1.0, 1.0]
    assert [target.name for target in report.targets] == [
        "fixed, importance, uncertainty, dwa, rlw, famo",
        "gradnorm",
        "gradient-conflict diagnostics",
    ]
    # Diagnostics are a design property: off unless a step asks for them.
    assert report.targets[2].met is True
    assert (tmp_path / "strategy_cost.png").stat().st_size > 0
    written = json.loads(write_report(report, tmp_path).read_text())
    assert written["results"]["ratio"][strategy_cost.PLAIN] == [1.0, 1.0]
