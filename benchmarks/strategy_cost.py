"""Training-step time of each weighting strategy relative to a plain weighted sum.

Run ``python -m benchmarks.strategy_cost``. A small transformer with a shared trunk and four task
heads trains one step per strategy in turn (round-robin, so machine noise hits all alike); after a
warm-up, each strategy's step time is divided by that of ``Σ λ_i L_i`` written by hand in the same
round and the median ratio reported. CUDA with bf16 autocast when available, else CPU. Prints a markdown table, writes ``results/strategy_cost.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from weightsearch.composite import CompositeLoss
from weightsearch.weighting import make_strategy

TASKS = ("action", "action_token", "recon_patch", "recon_token")
TARGETS = {
    "fixed": 1.05,
    "importance": 1.05,
    "uncertainty": 1.05,
    "dwa": 1.05,
    "rlw": 1.05,
    "famo": 1.05,
    "gradnorm": 1.3,
}
"""Allowed step-time ratio to the plain weighted sum; rows without a target are reported only."""

ROWS = {
    "fixed": ("fixed", {}, False),
    "importance": ("importance", {}, False),
    "uncertainty": ("uncertainty", {}, False),
    "dwa": ("dwa", {}, False),
    "rlw": ("rlw", {}, False),
    "famo": ("famo", {}, False),
    "gradnorm": ("gradnorm", {}, False),
    "torchjd (mgda)": ("torchjd", {"aggregator": "mgda"}, False),
    "fixed + diagnostics": ("fixed", {}, True),
    "fixed + metrics": ("fixed", {}, False),
}
"""Benchmark row → (strategy, its parameters, diagnostics on?); "+ metrics" also reads the record every step."""

RESULTS = Path(__file__).parent / "results" / "strategy_cost.json"


class MultiTaskTransformer(nn.Module):
    """A transformer trunk over token sequences with one head per task; ``shared`` is its last shared layer."""

    def __init__(self, width: int = 128, depth: int = 2, vocabulary: int = 256, patch: int = 48) -> None:
        super().__init__()
        self.embed = nn.Linear(patch, width)
        layer = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=4 * width, batch_first=True)
        self.trunk = nn.TransformerEncoder(layer, depth)
        self.shared = nn.Linear(width, width)
        self.heads = nn.ModuleDict(
            {
                "action": nn.Linear(width, 7),
                "action_token": nn.Linear(width, 7 * vocabulary),
                "recon_patch": nn.Linear(width, patch),
                "recon_token": nn.Linear(width, vocabulary),
            }
        )
        self.vocabulary = vocabulary

    def task_losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        features = torch.relu(self.shared(self.trunk(self.embed(batch["patches"]))))
        pooled = features.mean(dim=1)
        action_logits = self.heads["action_token"](pooled).view(-1, 7, self.vocabulary)
        return {
            "action": F.mse_loss(self.heads["action"](pooled).float(), batch["actions"]),
            "action_token": F.cross_entropy(action_logits.float().transpose(1, 2), batch["action_tokens"]),
            "recon_patch": F.mse_loss(self.heads["recon_patch"](features).float(), batch["patches"]),
            "recon_token": F.cross_entropy(
                self.heads["recon_token"](features).float().transpose(1, 2), batch["tokens"]
            ),
        }


def make_batch(device: torch.device, batch_size: int, length: int, vocabulary: int = 256, patch: int = 48) -> dict:
    """A fixed random batch: the benchmark times compute, not data loading."""
    generator = torch.Generator().manual_seed(0)
    batch = {
        "patches": torch.randn(batch_size, length, patch, generator=generator),
        "actions": torch.randn(batch_size, 7, generator=generator),
        "action_tokens": torch.randint(vocabulary, (batch_size, 7), generator=generator),
        "tokens": torch.randint(vocabulary, (batch_size, length), generator=generator),
    }
    return {name: tensor.to(device) for name, tensor in batch.items()}


def make_step(
    name: str, device: torch.device, batch: dict, autocast: Callable, width: int, depth: int
) -> Callable[[int], None]:
    """One optimiser step of a fresh model (same initial weights for every strategy) under strategy ``name``."""
    torch.manual_seed(0)
    model = MultiTaskTransformer(width, depth).to(device)
    shared = list(model.shared.parameters())
    if name == "plain":
        weights = dict.fromkeys(TASKS, 1.0)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def total_loss(step: int) -> torch.Tensor:
            return sum(weights[task] * loss for task, loss in model.task_losses(batch).items())

    else:
        strategy, params, diagnostics = ROWS[name]
        composite = CompositeLoss(make_strategy(strategy, TASKS, **params)).to(device)
        optimizer = torch.optim.AdamW(list(model.parameters()) + list(composite.parameters()), lr=1e-4)

        read_metrics = name.endswith("+ metrics")

        def total_loss(step: int) -> torch.Tensor:
            record = composite(model.task_losses(batch), step, shared_parameters=shared, diagnostics=diagnostics)
            if read_metrics:
                record.metrics()
            return record.total

    def step(index: int) -> None:
        with autocast():
            total = total_loss(index)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    return step


def measure(
    names: list[str],
    device: torch.device,
    repeats: int,
    warmup: int,
    batch_size: int,
    length: int,
    width: int,
    depth: int,
) -> dict[str, list[float]]:
    """Step times (ms) per name and round, stepping the names round-robin in a rotating order."""
    if device.type == "cuda":
        autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)  # noqa: E731
        synchronize = torch.cuda.synchronize
    else:
        autocast = contextlib.nullcontext
        synchronize = lambda: None  # noqa: E731
    batch = make_batch(device, batch_size, length)
    steps = {name: make_step(name, device, batch, autocast, width, depth) for name in names}
    timings: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        # Rotate the order so no strategy always runs right after the same neighbour.
        offset = round_index % len(names)
        for name in names[offset:] + names[:offset]:
            synchronize()
            start = time.perf_counter()
            steps[name](round_index)
            synchronize()
            if round_index >= warmup:
                timings[name].append(1000 * (time.perf_counter() - start))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60, help="timed rounds (median over them)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds first")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=32, help="tokens per sequence")
    parser.add_argument("--width", type=int, default=128, help="model width")
    parser.add_argument("--depth", type=int, default=2, help="transformer layers in the shared trunk")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    names = ["plain", *ROWS]
    if importlib.util.find_spec("torchjd") is None:
        names.remove("torchjd (mgda)")
    timings = measure(
        names,
        device,
        arguments.repeats,
        arguments.warmup,
        arguments.batch_size,
        arguments.length,
        arguments.width,
        arguments.depth,
    )

    rows = []
    for name in names:
        # The ratio is the median of same-round ratios: a slow patch of the machine hits both terms.
        ratio = statistics.median(step / plain for step, plain in zip(timings[name], timings["plain"]))
        median = statistics.median(timings[name])
        target = TARGETS.get(name)
        rows.append(
            {
                "strategy": name,
                "median_ms": round(median, 3),
                "ratio": round(ratio, 3),
                "target": target,
                "met": None if target is None else ratio <= target,
            }
        )
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(
        f"device: {device} ({device_name}), {arguments.repeats} timed rounds after {arguments.warmup} warm-up, "
        f"batch {arguments.batch_size}×{arguments.length}, width {arguments.width}, depth {arguments.depth}\n"
    )
    print("| strategy | median ms | ratio | target | met? |")
    print("|---|---|---|---|---|")
    for row in rows:
        target = "—" if row["target"] is None else f"≤ {row['target']:.2f}×"
        met = "—" if row["met"] is None else ("yes" if row["met"] else "NO")
        print(f"| {row['strategy']} | {row['median_ms']:.2f} | {row['ratio']:.3f} | {target} | {met} |")
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "device": str(device),
        "device_name": device_name,
        "autocast": "bf16" if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "repeats": arguments.repeats,
        "warmup": arguments.warmup,
        "batch_size": arguments.batch_size,
        "length": arguments.length,
        "width": arguments.width,
        "depth": arguments.depth,
        "rows": rows,
    }
    arguments.output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {arguments.output}")


if __name__ == "__main__":
    main()
