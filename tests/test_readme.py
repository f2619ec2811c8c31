"""The README matches the code where that is cheap to check: its metric names are reported, its commands exist,
its benchmark headlines are the recorded results' figures."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from weightsearch.cli import build_parser
from weightsearch.config import TrialConfig
from weightsearch.contracts import seed_metric
from weightsearch.search.checks import reported_metrics

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
# MetaWorld's metrics need its simulator to be reported; its factory's docstring names them.
METAWORLD_FACTORY = Path(__file__).resolve().parents[1] / "weightsearch" / "metaworld" / "factory.py"


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    return README[start : README.index("\n## ", start + 1)]


def _listed_metric_names() -> list[str]:
    """Every backticked name in the first column of the README's metric table."""
    rows = [line for line in _section("Metric names").splitlines() if line.startswith("| `")]
    return [name for row in rows for name in re.findall(r"`([^`]+)`", row.split(" | ")[0])]


def _pattern(name: str) -> re.Pattern[str]:
    """``train/grad_cos/<a>-<b>`` as a regular expression: each placeholder one name without a slash."""
    return re.compile(
        "".join("[^/]+" if part.startswith("<") else re.escape(part) for part in re.split(r"(<[^>]+>)", name))
    )


@pytest.fixture(scope="module")
def reported() -> set[str]:
    trial = TrialConfig(model="reference", options={"size": "tiny"}, diagnostics=True)
    names = reported_metrics(trial)
    return names | {seed_metric(name, 1) for name in names}


def test_every_metric_name_the_readme_lists_is_reported(reported):
    listed = _listed_metric_names()
    assert len(listed) >= 15  # the table was found
    missing = []
    for name in listed:
        if "success_rate" in name:
            assert name.removeprefix("val/").split("/")[0] in METAWORLD_FACTORY.read_text(), name
        elif not any(_pattern(name).fullmatch(metric) for metric in reported):
            missing.append(name)
    assert not missing, f"the README lists metrics no trial of the reference VLA reports: {missing}"


def test_every_command_the_readme_shows_exists():
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command").choices  # noqa: SLF001
    # a command in code: inline (`weightsearch best …`), or a line of a code block
    shown = set(re.findall(r"(?:^|`|&& )weightsearch ([a-z][a-z-]+)", README, flags=re.MULTILINE))
    assert {"run", "best", "show", "status", "confirm"} <= shown
    assert shown <= set(commands), f"the README shows commands the CLI does not have: {shown - set(commands)}"


NUMBER = re.compile(r"[−-]?\d[\d,]*(?:\.\d+)?")  # 1,234.5 and −0.03 (the README's minus sign) alike
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def _as_float(text: str) -> float:
    return float(text.replace("−", "-").replace(",", ""))


def _numbers(value: Any) -> list[float]:
    """Every number in a suite's JSON: values, keys and the figures inside its strings (its markdown, its targets)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, str):
        return [_as_float(match) for match in NUMBER.findall(value)]
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value if isinstance(value, list) else []
    return [number for item in items for number in _numbers(item)]


def _recorded(figure: str, recorded: list[float]) -> bool:
    """``figure`` as the README prints it is a recorded number at the README's precision (as is, ×10³ for ms or
    ×10⁻³, ×100 for %, or ×10⁻³ for a count in thousands; a minus sign may be the text's)."""
    value, decimals = abs(_as_float(figure)), len(figure.split(".")[1]) if "." in figure else 0
    return any(round(abs(number) * scale, decimals) == round(value, decimals)
               for number in recorded for scale in (1, 1000, 100, 1e-3))


def test_the_benchmark_table_quotes_the_recorded_results():
    start = README.index("| suite | what | headline")
    rows = README[start:].split("\n\n")[0].splitlines()[2:]
    assert len(rows) >= 6  # the table was found
    unrecorded = {}
    for row in rows:
        suite, _, headline, *_ = (cell.strip() for cell in row.strip("|").split(" | "))
        recorded = _numbers(json.loads((RESULTS / f"{suite.strip('`')}.json").read_text()))
        missing = [figure for figure in NUMBER.findall(headline) if not _recorded(figure, recorded)]
        if missing:
            unrecorded[suite] = missing
    assert not unrecorded, f"README headline figures not in benchmarks/results/<suite>.json: {unrecorded}"
