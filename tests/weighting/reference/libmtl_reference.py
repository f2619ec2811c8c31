"""Compute the reference values in ``libmtl.json`` by running LibMTL's own weighting classes.

    python tests/weighting/reference/libmtl_reference.py /path/to/LibMTL [--revision SHA] [--out FILE]

The path is a checkout of https://github.com/median-research-group/LibMTL: the directory that holds
the ``LibMTL`` package. Nothing of LibMTL is copied into this repository: this script imports its
``LibMTL/weighting/*.py`` from that path (without the package's ``__init__``, which pulls in its
model zoo) and runs them on the fixed inputs defined below, which go into the JSON next to the
results. ``tests/weighting/test_reference_values.py`` feeds the same inputs to our strategies and
compares. Needs torch and numpy. The values committed were computed from LibMTL 4336804 (2025-05-14).

LibMTL's classes are mixins that expect attributes of its trainer (``task_num``, ``device``,
``epoch``, ``train_loss_buffer``, ``rep_grad``, ``get_share_params``); ``host`` provides them.
Where LibMTL keeps state across epochs (DWA's loss buffer, GradNorm's ``L(0)``), the script fills it
as LibMTL's trainer would, with an epoch being one of our windows of steps.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import types
from pathlib import Path

import torch

TASKS = 3
FAMO_STEPS = 200
FAMO_SETTINGS = ((0.025, 0.001), (0.05, 0.01))
"""(lr, γ): LibMTL's defaults, and a larger step and weight decay."""
DWA_WINDOW, DWA_WINDOWS = 3, 6
UNCERTAINTY_STEPS, UNCERTAINTY_LR = 20, 0.1
RLW_SEED, RLW_STEPS = 7, 5


def load_weighting(root: Path) -> types.SimpleNamespace:
    """LibMTL's weighting classes from the checkout at ``root``, skipping the packages' ``__init__`` files."""
    for name, folder in (("LibMTL", root / "LibMTL"), ("LibMTL.weighting", root / "LibMTL" / "weighting")):
        if not folder.is_dir():
            raise SystemExit(f"{folder} not found: pass the directory that holds LibMTL's 'LibMTL' package")
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        sys.modules[name] = package
    names = ("EW", "DWA", "UW", "RLW", "GradNorm", "FAMO")
    return types.SimpleNamespace(**{n: getattr(importlib.import_module(f"LibMTL.weighting.{n}"), n) for n in names})


def host(cls: type, shared: list[torch.Tensor] | None = None, epoch: int = 0, epochs: int = 1):
    """An instance of LibMTL weighting ``cls`` with the trainer attributes it reads."""

    class Host(cls):
        def get_share_params(self):
            return shared

        def zero_grad_share_params(self):
            for parameter in shared:
                if parameter.grad is not None:
                    parameter.grad.zero_()

    weighting = Host()
    weighting.task_num, weighting.device, weighting.rep_grad = TASKS, torch.device("cpu"), False
    weighting.epoch, weighting.train_loss_buffer = epoch, torch.zeros(TASKS, epochs).numpy()
    weighting.init_param()
    return weighting


def weights_of(weighting, losses: list[float], **kwargs) -> list[float]:
    """The weights LibMTL's ``backward`` applies to ``losses``: the gradient of its objective w.r.t. each loss."""
    leaf = torch.tensor(losses, requires_grad=True)
    weighting.backward(leaf, **kwargs)
    return leaf.grad.tolist()


def loss_sequence(steps: int, seed: int) -> list[list[float]]:
    """Noisy, decaying losses on three scales, each task at its own rate: ``s_i e^{-k_i t} e^{0.1 ε}``."""
    generator = torch.Generator().manual_seed(seed)
    scales, rates = torch.tensor([1.0, 5.0, 0.2]), torch.tensor([0.002, 0.01, 0.005])
    time = torch.arange(steps, dtype=torch.float32).unsqueeze(1)
    noise = torch.randn(steps, TASKS, generator=generator)
    return (scales * torch.exp(-rates * time) * torch.exp(0.1 * noise)).tolist()


def famo(libmtl, losses: list[list[float]], lr: float, gamma: float) -> dict:
    """Weights at every step of a fixed loss sequence: LibMTL's ``backward(L_t)``, then ``update_w(L_{t+1})``."""
    weighting = host(libmtl.FAMO)
    weights = []
    for step, step_losses in enumerate(losses):
        weights.append(weights_of(weighting, step_losses, FAMO_w_lr=lr, FAMO_w_gamma=gamma))
        if step < FAMO_STEPS:
            weighting.update_w(torch.tensor(losses[step + 1]))
    return {"lr": lr, "gamma": gamma, "weights": weights, "logits": weighting.w.tolist()}


def gradnorm_problem(seed: int) -> dict:
    """A shared layer ``W`` [4, 5] and per-task data: ``L_i = s_i · ‖tanh(W x_i) - y_i‖²``."""
    generator = torch.Generator().manual_seed(seed)
    return {
        "shared": torch.randn(4, 5, generator=generator).tolist(),
        "inputs": torch.randn(TASKS, 5, generator=generator).tolist(),
        "targets": torch.randn(TASKS, 4, generator=generator).tolist(),
        "scales": [1.0, 30.0, 0.05],
    }


def gradnorm_losses(problem: dict, shared: torch.Tensor) -> torch.Tensor:
    inputs, targets = torch.tensor(problem["inputs"]), torch.tensor(problem["targets"])
    return torch.tensor(problem["scales"]) * (torch.tanh(inputs @ shared.T) - targets).pow(2).sum(1)


def gradnorm(libmtl, alpha: float, logits: list[float], initial_factors: list[float]) -> dict:
    """One LibMTL GradNorm step (epoch 1): the gradient of ``L_grad`` w.r.t. its softmax logits, and ``Ḡ``.

    ``w = T softmax(logits)``; ``L(0)`` is the current loss times ``initial_factors``.
    """
    problem = gradnorm_problem(seed=0)
    shared = torch.tensor(problem["shared"], requires_grad=True)
    losses = gradnorm_losses(problem, shared)
    weighting = host(libmtl.GradNorm, [shared], epoch=1, epochs=2)
    weighting.train_loss_buffer[:, 0] = [loss * factor for loss, factor in zip(losses.tolist(), initial_factors)]
    with torch.no_grad():
        weighting.loss_scale.copy_(torch.tensor(logits))
    weights = TASKS * torch.softmax(weighting.loss_scale.detach(), dim=0)
    grads = weighting._get_grads(gradnorm_losses(problem, shared), mode="autograd")
    mean_norm = (weights.unsqueeze(1) * grads).norm(dim=1).mean()
    applied = weighting.backward(losses, alpha=alpha)
    return {
        "problem": problem,
        "alpha": alpha,
        "logits": logits,
        "initial_losses": weighting.train_loss_buffer[:, 0].tolist(),
        "weights": applied.tolist(),
        "mean_weighted_norm": mean_norm.item(),
        "logit_gradient": weighting.loss_scale.grad.tolist(),
    }


def dwa(libmtl, temperature: float) -> dict:
    """Weights at every step, an epoch being a window of ``DWA_WINDOW`` steps; the buffer filled at its end."""
    losses = loss_sequence(DWA_WINDOW * DWA_WINDOWS, seed=1)
    weighting = host(libmtl.DWA, epochs=DWA_WINDOWS)
    weights = []
    for epoch in range(DWA_WINDOWS):
        weighting.epoch = epoch
        window = losses[epoch * DWA_WINDOW : (epoch + 1) * DWA_WINDOW]
        weights += [weights_of(weighting, step_losses, T=temperature) for step_losses in window]
        weighting.train_loss_buffer[:, epoch] = torch.tensor(window).mean(0).numpy()
    return {"temperature": temperature, "window": DWA_WINDOW, "losses": losses, "weights": weights}


def uncertainty(libmtl) -> dict:
    """Weights and log-variances over steps of SGD on LibMTL UW's objective (its init: ``s = -0.5``)."""
    losses = loss_sequence(UNCERTAINTY_STEPS, seed=2)
    weighting = host(libmtl.UW)
    optimizer = torch.optim.SGD(weighting.parameters(), lr=UNCERTAINTY_LR)
    weights = []
    for step_losses in losses:
        optimizer.zero_grad()
        weights.append(weighting.backward(torch.tensor(step_losses)).tolist())
        optimizer.step()
    return {
        "init": -0.5,
        "lr": UNCERTAINTY_LR,
        "losses": losses,
        "weights": weights,
        "log_variances": weighting.loss_scale.tolist(),
    }


def rlw(libmtl) -> dict:
    """Weights of the first steps after ``torch.manual_seed(RLW_SEED)``."""
    weighting = host(libmtl.RLW)
    torch.manual_seed(RLW_SEED)
    return {"seed": RLW_SEED, "weights": [weights_of(weighting, [1.0, 2.0, 3.0]) for _ in range(RLW_STEPS)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("libmtl", type=Path, help="directory holding LibMTL's 'LibMTL' package (a checkout)")
    parser.add_argument("--revision", default="", help="LibMTL commit the checkout is at, recorded in the output")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("libmtl.json"))
    arguments = parser.parse_args(argv)
    libmtl = load_weighting(arguments.libmtl.resolve())
    torch.set_num_threads(1)
    famo_losses = loss_sequence(FAMO_STEPS + 1, seed=0)
    values = {
        "source": {
            "repository": "median-research-group/LibMTL",
            "revision": arguments.revision,
            "torch": torch.__version__,
            "script": "tests/weighting/reference/libmtl_reference.py",
        },
        "ew": {"weights": weights_of(host(libmtl.EW), [1.0, 2.0, 3.0])},
        "famo": {"losses": famo_losses, "runs": [famo(libmtl, famo_losses, *settings) for settings in FAMO_SETTINGS]},
        "gradnorm": [
            gradnorm(libmtl, 1.5, [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]),
            gradnorm(libmtl, 1.5, [0.3, -0.2, 0.5], [2.0, 1.0, 0.5]),
            gradnorm(libmtl, 0.12, [0.3, -0.2, 0.5], [0.5, 1.0, 2.0]),
        ],
        "dwa": dwa(libmtl, 2.0),
        "uncertainty": uncertainty(libmtl),
        "rlw": rlw(libmtl),
    }
    # One line a top-level entry: readable, and a re-run's diff shows which strategy moved.
    lines = ",\n".join(f" {json.dumps(key)}: {json.dumps(value)}" for key, value in values.items())
    arguments.out.write_text("{\n" + lines + "\n}\n")
    print(f"wrote {arguments.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
