"""Run the benchmark suites: ``python -m benchmarks [--quick] [--suite NAME ...] [--out DIR]``.

Each suite writes ``<out>/<suite>.json`` and its plots; ``<out>/summary.md`` collects the sections of
every suite whose JSON is in ``<out>`` (so a single suite can be re-run without losing the others).
A suite that fails is reported and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
import traceback
from pathlib import Path

from benchmarks.common import RESULTS_DIR, SuiteReport, Target, section, write_report

# Cheapest first, so a quick run shows early whether the machine is sane.
SUITES = (
    "strategy_cost",
    "repeats_cost",
    "orchestration_overhead",
    "study_scaling",
    "search_efficiency",
    "strategy_comparison",
    "transfer",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of every suite (≤ 10 min on 2 cores); figures not meaningful")
    parser.add_argument("--suite", action="append", choices=SUITES, help="run only this suite (repeatable)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help=f"results directory (default {RESULTS_DIR})")
    arguments = parser.parse_args(argv)
    failed = []
    started = time.perf_counter()
    for name in arguments.suite or SUITES:
        print(f"== {name}{' (quick)' if arguments.quick else ''}", flush=True)
        began = time.perf_counter()
        try:
            report = importlib.import_module(f"benchmarks.{name}").run(quick=arguments.quick, out_dir=arguments.out)
        except Exception:  # noqa: BLE001 - one broken suite must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        path = write_report(report, arguments.out)
        print(f"== {name}: {time.perf_counter() - began:.0f} s, wrote {path}", flush=True)
    summary = write_summary(arguments.out)
    print(f"benchmarks: {time.perf_counter() - started:.0f} s; summary {summary}; results in {arguments.out}")
    if failed:
        print(f"benchmarks: failed suites: {', '.join(failed)}")
        return 1
    return 0


def write_summary(out_dir: Path) -> Path:
    """``summary.md`` from every suite JSON in ``out_dir``, in suite order."""
    sections = []
    for name in SUITES:
        path = out_dir / f"{name}.json"
        if path.exists():
            sections.append(section(load_report(path)))
    summary = out_dir / "summary.md"
    summary.write_text("# weightsearch benchmarks\n\nRegenerate with `python -m benchmarks` (see README).\n\n" + "\n".join(sections))
    return summary


def load_report(path: Path) -> SuiteReport:
    """A suite report back from its JSON."""
    data = json.loads(path.read_text())
    data["targets"] = [Target(**target) for target in data.get("targets", [])]
    return SuiteReport(**data)


if __name__ == "__main__":
    raise SystemExit(main())
