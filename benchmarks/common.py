"""What every benchmark suite shares: the machine it ran on, median (min–max) spreads, targets, and its report.

A suite is a module with ``run(*, quick: bool, out_dir: Path) -> SuiteReport``; ``python -m
benchmarks`` runs them in turn and :func:`write_report` writes each one's ``<out_dir>/<name>.json``
(the markdown section goes into ``<out_dir>/summary.md``). PNG plots are written by the suite
itself into ``out_dir`` and listed in ``SuiteReport.plots``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
# Run as a script from a checkout: make the repository's package importable without installing it.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@dataclass
class Target:
    """One target the issue sets: what it asks, what was measured, and whether that meets it."""

    name: str
    wanted: str
    measured: str
    met: bool | None  # None: not measurable in this run (e.g. a CUDA target on a CPU machine)


@dataclass
class SuiteReport:
    """A suite's figures: ``results`` is its raw data (JSON-serialisable), ``markdown`` its section of the summary."""

    name: str
    title: str
    quick: bool
    settings: dict[str, Any]
    results: dict[str, Any]
    markdown: str
    targets: list[Target] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=lambda: machine())
    wall_s: float = 0.0


def machine() -> dict[str, Any]:
    """The machine and library versions a figure was measured with."""
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for module in ("ray", "optuna", "mlflow", "numpy"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            continue
    description = {
        "host": platform.node(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": versions,
    }
    return description


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def spread(values: Iterable[float]) -> dict[str, float]:
    """Median, min, max and count of ``values`` (the form every figure is quoted in)."""
    data = [float(value) for value in values]
    if not data:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"median": statistics.median(data), "min": min(data), "max": max(data), "n": len(data)}


def format_spread(values: dict[str, float], digits: int = 2, scale: float = 1.0, unit: str = "") -> str:
    """``median (min–max)`` of a :func:`spread`, scaled, e.g. ``1.02 (0.99–1.05)``."""
    if not values.get("n"):
        return "–"
    median, low, high = (values[key] * scale for key in ("median", "min", "max"))
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f}){unit}"


def markdown_table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def targets_markdown(targets: list[Target]) -> str:
    """The targets as a table: wanted, measured, met."""
    verdict = {True: "**met**", False: "**not met**", None: "not measured"}
    return markdown_table(
        ["target", "wanted", "measured", "verdict"],
        [[target.name, target.wanted, target.measured, verdict[target.met]] for target in targets],
    )


def machine_line(description: dict[str, Any]) -> str:
    """One line naming the machine and versions, for the top of a suite's section."""
    versions = ", ".join(f"{name} {version}" for name, version in description["versions"].items())
    gpu = f", GPU {description['gpu']}" if description.get("gpu") else ", no GPU"
    load = description.get("load_average_1m")
    load_text = f", load {load:.1f} at start" if load is not None else ""
    return f"{description['cpus']} × {description['cpu']}{gpu}{load_text}; {versions}"


def write_report(report: SuiteReport, out_dir: Path) -> Path:
    """Write ``<out_dir>/<name>.json`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{report.name}.json"
    path.write_text(json.dumps(asdict(report), indent=1, default=_json_default) + "\n")
    return path


def section(report: SuiteReport) -> str:
    """The suite's markdown section: title, machine, settings, its own tables, targets, plots."""
    mode = " (quick mode: smoke figures)" if report.quick else ""
    parts = [
        f"## {report.title}{mode}",
        f"Machine: {machine_line(report.machine)}. Wall time {report.wall_s:.0f} s.",
        report.markdown.strip(),
    ]
    if report.targets:
        parts.append(targets_markdown(report.targets))
    parts += [f"![{Path(plot).stem}]({Path(plot).name})" for plot in report.plots]
    return "\n\n".join(parts) + "\n"


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def suite_main(run: Callable[..., SuiteReport], doc: str, quick_help: str, argv: list[str] | None = None) -> int:
    """What ``python -m benchmarks.<suite>`` does: run one suite, write its JSON and markdown, say where."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"a smoke run: {quick_help}")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for the JSON, markdown and plots")
    arguments = parser.parse_args(argv)
    report = run(quick=arguments.quick, out_dir=arguments.out)
    json_path = write_report(report, arguments.out)
    markdown_path = arguments.out / f"{report.name}.md"
    markdown_path.write_text(section(report))
    print(section(report))
    print(f"{report.name}: wrote {json_path}, {markdown_path} and {', '.join(report.plots)}", flush=True)
    return 0


def kill_process_tree(process: subprocess.Popen) -> None:
    """SIGKILL ``process``'s group (it was started with ``start_new_session``) and every descendant.

    Ray starts its raylet and workers in groups of their own, so the group alone would leave them;
    used to simulate a driver killed hard (the resume benchmark and the resume e2e test).
    """
    family = _descendants(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    for pid in family:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from the parent ids in /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
