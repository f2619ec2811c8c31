"""A second recorded landscape nobody tuned to: the example plug-in's learning curves over auxiliary weight × lr.

``examples/plugin_model.py`` (three-task MLP on procedural data) trained by the product's trainer
(``weightsearch.trial.train``) with λ_position = 1, λ_region = λ_distance = λ_aux on one axis and the
learning rate on the other, several seeds a cell, the held-out position MSE evaluated every
``--eval-every`` steps and kept as the run's curve. One process, one torch thread, runs in seed
order (a run stopped early still holds whole seeds). The search-efficiency suite replays these
curves like the reference grid's (``benchmarks/search_efficiency.py``).

    python -m benchmarks.plugin_landscape            # 6 × 6 cells, 3 seeds: ~15 min on one core

Writes ``results/plugin_landscape.jsonl``: one finished run a line, ``{"align": λ_aux, "recon": lr,
"seed", "curve": [[step, value], …]}`` (the grid's keys, so one loader reads both).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.common import REPO_ROOT, RESULTS_DIR

AUX = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0)
LR = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
OBJECTIVE = "val/position/mse"
MODEL = "examples.plugin_model:build"
STEPS, EVAL_EVERY, BATCH_SIZE = 600, 50, 32
DEFAULT_OUT = RESULTS_DIR / "plugin_landscape.jsonl"
AXES = ("λ_aux (region, distance)", "lr")


def run_cell(aux: float, lr: float, seed: int) -> dict:
    """One fixed-weight training run of the plug-in; its curve of the held-out position MSE."""
    from weightsearch.trial import TrialConfig, train

    weights = {"position": 1.0, "region": aux, "distance": aux}
    config = TrialConfig(
        model=MODEL,
        strategy="fixed",
        strategy_params={"weights": weights},
        lr=lr,
        steps=STEPS,
        eval_every=EVAL_EVERY,
        batch_size=BATCH_SIZE,
        seed=seed,
        diagnostics=False,
        device="cpu",
    )
    curve: list[list[float]] = []
    started = time.perf_counter()
    train(config, report=lambda values, _: curve.append([values["step"], values[OBJECTIVE]]))
    return {"align": aux, "recon": lr, "seed": seed, "wall_s": time.perf_counter() - started, "curve": curve}


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    arguments = parser.parse_args(argv)
    torch.set_num_threads(1)
    # The plug-in is imported by name from the repository root, as `weightsearch train` does.
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    jobs = [(aux, lr, seed) for seed in range(arguments.seeds) for aux in AUX for lr in LR]
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    with arguments.out.open("w") as lines:
        for done, (aux, lr, seed) in enumerate(jobs, start=1):
            run = run_cell(aux, lr, seed)
            lines.write(json.dumps(run) + "\n")
            lines.flush()
            print(
                f"[{done}/{len(jobs)}] aux={aux:g} lr={lr:g} seed={seed}: {run['curve'][-1][1]:.4f} "
                f"({run['wall_s']:.1f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
