"""Fuzzed specs through `weightsearch validate`: every invalid one is one line on stderr and exit 2,
never a traceback, and nothing is written."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from weightsearch.cli import main

TESTS = Path(__file__).resolve().parent
# A valid spec of every section, on the tiny two-task model of the sweep tests (a valid mutant is cheap to check).
BASE = {
    "name": "fuzz",
    "objective": {"metric": "val/main/mse", "mode": "min"},
    "trial": {"model": "sweep_plugins:build", "steps": 8, "eval_every": 2, "batch_size": 8, "diagnostics": False},
    "space": {
        "strategy": {"fixed": {"weights": {"simplex": ["main", "aux"], "total": 2}}, "dwa": {"window": {"int": [2, 6]}}},
        "parameters": {"lr": {"float": [1.0e-4, 3.0e-1], "log": True}, "normalization": {"choice": ["none", "ema"]}},
    },
    "sampler": {"name": "tpe", "seed": 0, "options": {"n_startup_trials": 2}},
    "pruner": {"name": "median", "options": {"n_warmup_steps": 2}},
    "budget": {"num_samples": 4, "max_concurrent": 2, "time_budget_s": 60, "max_retries": 1},
    "resources": {"cpu": 1, "gpu": 0},
    "tracking": {"uri": None, "experiment": None},
    "ray": {"address": None},
    "baselines": {"main_only": {"strategy": "fixed", "strategy_params": {"weights": {"main": 1.0, "aux": 0.0}}}},
    "confirm": {"top": 2, "seeds": 3},
}
MUTANTS = 260
WEIRD_VALUES: list[Any] = [
    True, False, None, 0, -1, 1.5, -1e308, 1e308, 10**30, float("inf"), float("-inf"), float("nan"),
    "", "x", "--help", "../../etc", "ünïcødé ☃", "\u202eevil", "a" * 5000, [], [1, "two"], {}, {"float": [1, 0]},
    {"int": [0, 10], "log": True}, {"choice": []}, {"simplex": ["action"]}, {"float": [0.1, 1], "choice": [1]},
]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a nested spec (mappings only; lists are leaves)."""
    paths = []
    if isinstance(node, dict):
        for key, value in node.items():
            paths.append((*prefix, key))
            paths += _paths(value, (*prefix, key))
    return paths


def _deep(levels: int) -> dict:
    node: dict = {"lr": {"float": [0.001, 0.01]}}
    for index in range(levels):
        node = {f"group{index}": node}
    return node


def _mutate(spec: dict, rng: random.Random) -> dict:
    mutant = copy.deepcopy(spec)
    path = rng.choice(_paths(mutant))
    parent = mutant
    for key in path[:-1]:
        parent = parent[key]
    operation = rng.randrange(5)
    if operation == 0:
        parent[path[-1]] = rng.choice(WEIRD_VALUES)
    elif operation == 1:
        del parent[path[-1]]
        if not mutant.get("budget"):
            mutant["budget"] = {"num_samples": 0}  # keep it invalid when the deletion alone is not
    elif operation == 2:
        parent[rng.choice(["extra", "lr ", "Name", "ünknown"])] = rng.choice(WEIRD_VALUES)
    elif operation == 3:
        parent[path[-1]] = _deep(rng.randrange(5, 60))
    else:
        parent[path[-1]] = {"float": [rng.choice([float("nan"), 1.0, -5.0]), rng.choice([float("inf"), 0.5, 2.0])]}
    return mutant


def test_fuzzed_specs_fail_in_one_line_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(TESTS / "search"))  # sweep_plugins
    base = copy.deepcopy(BASE)
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump({**base, "storage": {"path": str(tmp_path / "runs")}}))
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err  # the base itself is valid
    rng = random.Random(20261201)
    runs = tmp_path / "runs"
    invalid = valid = 0
    for index in range(MUTANTS):
        mutant = _mutate(base, rng)
        mutant["storage"] = {"path": str(runs)}  # where a spec that wrongly passed might write
        path = tmp_path / f"mutant{index}.yaml"
        path.write_text(yaml.safe_dump(mutant, allow_unicode=True))
        code = main(["validate", str(path)])
        captured = capsys.readouterr()
        assert code in (0, 2), (index, mutant, captured.err)
        assert "Traceback" not in captured.err + captured.out, (index, captured.err)
        if code == 2:
            invalid += 1
            lines = captured.err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("weightsearch validate: error: "), (index, captured.err)
        else:
            valid += 1
        assert not runs.exists(), f"validate wrote {runs} for mutant {index}"
    assert invalid >= 200, f"only {invalid} of {MUTANTS} mutants were invalid ({valid} valid)"
