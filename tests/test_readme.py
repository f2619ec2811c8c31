"""The README matches the code where that is cheap to check: its metric names are reported, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

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
