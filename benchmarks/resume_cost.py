"""What resuming costs: how soon a SIGKILLed sweep trains again, and what checkpointing at every report costs a trial.

(a) Restart latency. Each repetition runs the quickstart sweep (``search_spaces/quickstart.yaml``
with ``--set`` overrides) as ``weightsearch run`` in its own process group, SIGKILLs the group (and
what Ray started in groups of its own) once a trial has reported (so it has a checkpoint), then
starts ``weightsearch resume NAME`` and polls the Optuna study every 0.1 s. Measured (``restart_s``):
seconds from the resume's start to the first new intermediate value of a trial the kill left RUNNING
(adopted by the resume), or to the first RUNNING trial with a new number, whichever comes first. This
is the time until the sweep makes progress again: Ray start, study and MLflow reopening, the adopted
trial's checkpoint restore and its training up to its next report (``eval_every`` steps at most, so
an upper bound on the restart overhead itself).

(b) Checkpoint cost. :func:`weightsearch.trial.train` on the quickstart's base trial (tiny reference,
its steps and ``eval_every``), with ``checkpoint_dir`` set and not set, interleaved after one untimed
warm-up trial, one torch thread.
Reported: the median ratio with/without, the median time per checkpoint (``save_checkpoint`` timed
directly) and its share of a trial (target ≤ 5 %).

The machine is shared (other jobs may run): medians and ranges, not single runs.

    python benchmarks/resume_cost.py --repetitions 3 --train-repetitions 9
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import weightsearch.trial.trainer as trainer_module  # noqa: E402
from benchmarks.common import kill_process_tree  # noqa: E402
from weightsearch.config import load_spec, spec_to_yaml  # noqa: E402
from weightsearch.trial import train  # noqa: E402

QUICKSTART = REPO_ROOT / "search_spaces" / "quickstart.yaml"
RESULTS_FILE = REPO_ROOT / "benchmarks" / "results" / "resume_cost.json"
TARGET_PCT = 5.0
POLL_S = 0.1


def _start(*arguments: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-m", "weightsearch.cli", *arguments], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _trials(root: Path, name: str) -> list[optuna.trial.FrozenTrial] | None:
    # Opening the SQLite study before the sweep made it would create its tables: wait for Ray's folder.
    if not (root / name / "ray").exists():
        return None
    try:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{root / name / 'optuna.db'}")
        return study.get_trials(deepcopy=False)
    except Exception:  # noqa: BLE001 - not created yet, or being written this instant
        return None


def _poll(process: subprocess.Popen, root: Path, name: str, condition, timeout: float) -> tuple[float, Any]:
    """Seconds until ``condition(trials)`` returns something truthy, and what it returned."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"{name}: the CLI exited early ({process.returncode}): {process.stderr.read()[-2000:]}")
        trials = _trials(root, name)
        found = condition(trials) if trials is not None else None
        if found:
            return time.perf_counter() - started, found
        time.sleep(POLL_S)
    raise RuntimeError(f"{name}: timed out after {timeout:.0f} s")


def restart_latency(overrides: list[str], root: Path, name: str) -> dict[str, Any]:
    """Run, SIGKILL after a first report, resume: seconds from the resume's start to its first progress."""
    spec_path = root / f"{name}.yaml"
    spec_path.write_text(spec_to_yaml(load_spec(QUICKSTART, [*overrides, f"name={name}", f"storage.path={root}"])))
    run = _start("run", str(spec_path))
    _poll(run, root, name, lambda trials: any(t.state.name == "RUNNING" and t.intermediate_values for t in trials), 600)
    kill_process_tree(run)
    killed = {t.number: len(t.intermediate_values) for t in _trials(root, name) if t.state.name == "RUNNING"}
    known = len(_trials(root, name))

    def progress(trials):
        for trial in trials:
            if trial.number in killed and len(trial.intermediate_values) > killed[trial.number]:
                return {"kind": "adopted", "number": trial.number, "step": max(trial.intermediate_values)}
            if trial.number >= known and trial.state.name == "RUNNING":
                return {"kind": "new", "number": trial.number, "step": None}
        return None

    resume = _start("resume", name, "--storage-path", str(root))
    try:
        seconds, found = _poll(resume, root, name, progress, 600)
    finally:
        kill_process_tree(resume)
    return {"restart_s": seconds, "killed_running": killed, **found}


def train_seconds(config, checkpoint_dir: Path | None) -> tuple[float, list[float]]:
    """Wall time of one trial, and the time of each checkpoint it wrote."""
    saves: list[float] = []
    save = trainer_module.save_checkpoint

    def timed_save(*args, **kwargs):
        started = time.perf_counter()
        try:
            return save(*args, **kwargs)
        finally:
            saves.append(time.perf_counter() - started)

    trainer_module.save_checkpoint = timed_save
    try:
        started = time.perf_counter()
        train(config, checkpoint_dir=checkpoint_dir)
        return time.perf_counter() - started, saves
    finally:
        trainer_module.save_checkpoint = save


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3, help="kill-and-resume repetitions")
    parser.add_argument("--train-repetitions", type=int, default=9, help="trials with and without checkpoints, each")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a quickstart value for (a), e.g. --set budget.num_samples=4")
    parser.add_argument("--out", type=Path, default=RESULTS_FILE)
    args = parser.parse_args()
    torch.set_num_threads(1)

    restarts = []
    with tempfile.TemporaryDirectory(prefix="resume-cost-") as scratch:
        for repetition in range(args.repetitions):
            restart = restart_latency(args.overrides, Path(scratch), f"resume-{repetition}")
            restarts.append(restart)
            print(f"restart {repetition}: {restart['restart_s']:.1f} s to first progress ({restart['kind']} trial "
                  f"{restart['number']}, step {restart['step']})", flush=True)

        config = load_spec(QUICKSTART).trial
        train_seconds(config, None)  # warm-up: first imports and allocations, not timed
        runs: dict[str, list[float]] = {"off": [], "on": []}
        saves: list[float] = []
        for repetition in range(args.train_repetitions):
            for mode in (("off", "on") if repetition % 2 == 0 else ("on", "off")):
                folder = Path(scratch) / f"train-{repetition}" if mode == "on" else None
                seconds, saved = train_seconds(config, folder)
                runs[mode].append(seconds)
                saves.extend(saved)
                print(f"train {repetition} {mode:3s} {seconds:6.2f} s  checkpoints {len(saved)}", flush=True)

    reports = len(saves) // args.train_repetitions
    ratios = [on / off for on, off in zip(runs["on"], runs["off"], strict=True)]
    save_s = statistics.median(saves)
    off_s = statistics.median(runs["off"])
    summary = {
        "restart_s": _spread([r["restart_s"] for r in restarts]),
        "train_off_s": _spread(runs["off"]),
        "train_on_s": _spread(runs["on"]),
        "ratio_on_off": _spread(ratios),
        "reports_per_trial": reports,
        "checkpoint_s": _spread(saves),
        "checkpoint_pct_of_trial": 100 * save_s * reports / off_s,
        "target_pct": TARGET_PCT,
    }
    settings = {"spec": str(QUICKSTART.relative_to(REPO_ROOT)), "overrides": args.overrides,
                "repetitions": args.repetitions, "train_repetitions": args.train_repetitions,
                "trial": config.model_dump(), "torch_threads": 1, "cpus": os.cpu_count(),
                "machine": "shared, noisy (other jobs may run at the same time)"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"settings": settings, "summary": summary, "restarts": restarts,
                                    "train_s": runs, "checkpoint_s": saves}, indent=2) + "\n")

    def row(label: str, spread: dict[str, float], unit: str, scale: float = 1.0) -> str:
        return (f"| {label} | {spread['median'] * scale:.3g} {unit} "
                f"| {spread['min'] * scale:.3g}–{spread['max'] * scale:.3g} {unit} |")

    print(f"\nMeasured on a shared {os.cpu_count()}-core machine (noisy); {args.repetitions} restarts, "
          f"{args.train_repetitions} trials each with and without checkpoints.\n")
    print("| measure | median | min–max |\n|---|---|---|")
    print(row("resume start → first progress (a)", summary["restart_s"], "s"))
    print(row("trial without checkpoints", summary["train_off_s"], "s"))
    print(row("trial with checkpoints", summary["train_on_s"], "s"))
    print(row("ratio with / without", summary["ratio_on_off"], "×"))
    print(row("one checkpoint (save_checkpoint)", summary["checkpoint_s"], "ms", 1000))
    print(f"| checkpoints per trial × median cost / trial | {summary['checkpoint_pct_of_trial']:.2f} % "
          f"| target ≤ {TARGET_PCT:g} % |")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
