"""The multi-seed cost suite times both ways, checks their seeds agree and reports its target (figures not asserted)."""

from __future__ import annotations

import json

import pytest

from benchmarks import repeats_cost
from benchmarks.common import write_report


def test_a_round_times_both_ways_and_writes_the_report(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repeats_cost, "QUICK", repeats_cost.Plan(steps=2, eval_every=1, rounds=1, warmup_rounds=0))

    report = repeats_cost.run(quick=True, out_dir=tmp_path)

    (only,) = report.results["rounds"]
    assert all(only[key] > 0 for key in ("lockstep_wall_s", "separate_wall_s", "lockstep_train_s", "separate_train_s"))
    assert report.results["identical"] is True
    assert [target.name for target in report.targets] == ["repeats: 3 vs 3 separate trials"]
    written = json.loads(write_report(report, tmp_path).read_text())
    assert written["settings"]["seeds"] == [0, 1, 2]
