"""Our strategies against values computed with LibMTL's own code (``reference/libmtl_reference.py``).

Each test feeds a strategy the inputs stored in ``reference/libmtl.json`` and compares with LibMTL's
outputs there, where the conventions agree; README's table of departures lists where they do not.
Our normalised weights average 1 over the tasks (LibMTL's RLW and FAMO weights sum to 1), hence ``× T``.
"""

import json
from pathlib import Path

import pytest
import torch

from weightsearch.weighting import (
    FAMO,
    DynamicWeightAverage,
    FixedWeighting,
    GradNormWeighting,
    RandomLossWeighting,
    UncertaintyWeighting,
    task_gramian,
)
from weightsearch.weighting._gradnorm import balance_gradient

REFERENCE = json.loads((Path(__file__).parent / "reference" / "libmtl.json").read_text())
TASKS = ("a", "b", "c")
T = len(TASKS)


def as_losses(values, requires_grad=False):
    return {task: torch.tensor(value, requires_grad=requires_grad) for task, value in zip(TASKS, values)}


def weights_list(weights):
    return [weight.item() for weight in weights.values()]


@pytest.mark.parametrize("run", REFERENCE["famo"]["runs"], ids=lambda run: f"lr={run['lr']},gamma={run['gamma']}")
def test_famo_follows_libmtl_adam_on_the_logits_for_200_steps(run):
    strategy = FAMO(TASKS, lr=run["lr"], gamma=run["gamma"])
    ours = [
        weights_list(strategy.weigh(as_losses(losses), step)[1])
        for step, losses in enumerate(REFERENCE["famo"]["losses"])
    ]
    expected = torch.tensor(run["weights"]) * T
    assert torch.allclose(torch.tensor(ours), expected, rtol=0, atol=1e-5)
    assert torch.allclose(strategy.logits, torch.tensor(run["logits"]), rtol=0, atol=1e-5)
    # The logits moved (a plain step at lr 0.025 left them within ~0.01 of zero).
    assert strategy.logits.abs().max().item() > 0.1


def gradnorm_problem(case):
    problem = case["problem"]
    shared = torch.tensor(problem["shared"], requires_grad=True)
    inputs, targets = torch.tensor(problem["inputs"]), torch.tensor(problem["targets"])
    losses = torch.tensor(problem["scales"]) * (torch.tanh(inputs @ shared.T) - targets).pow(2).sum(1)
    return shared, losses


@pytest.mark.parametrize("case", REFERENCE["gradnorm"], ids=lambda case: f"alpha={case['alpha']},{case['logits']}")
def test_gradnorm_weight_gradient_is_libmtls_through_its_softmax(case):
    shared, losses = gradnorm_problem(case)
    probabilities = torch.softmax(torch.tensor(case["logits"]), dim=0)
    weights = T * probabilities
    assert torch.allclose(weights, torch.tensor(case["weights"]), atol=1e-6)
    norms = task_gramian(losses, [shared]).diagonal().sqrt()
    ratios = losses.detach() / torch.tensor(case["initial_losses"])
    gradient = balance_gradient(weights, norms, ratios / ratios.mean(), case["alpha"])
    # LibMTL trains p with w = T softmax(p): ∂L_grad/∂p = T (z ⊙ g - z (z·g)).
    logit_gradient = T * (probabilities * gradient - probabilities * (probabilities @ gradient))
    assert torch.allclose(logit_gradient, torch.tensor(case["logit_gradient"]), rtol=1e-4, atol=1e-4)
    assert (weights * norms).mean().item() == pytest.approx(case["mean_weighted_norm"], rel=1e-5)


def test_gradnorm_first_step_is_libmtls_with_the_step_divided_by_the_mean_norm():
    case = REFERENCE["gradnorm"][0]
    assert case["logits"] == [1.0, 1.0, 1.0] and case["initial_losses"] == pytest.approx(
        gradnorm_problem(case)[1].tolist()
    )
    shared, losses = gradnorm_problem(case)
    lr = 0.025
    strategy = GradNormWeighting(TASKS, alpha=case["alpha"], lr=lr)
    strategy.weigh(dict(zip(TASKS, losses.unbind())), 0, [shared])
    # SGD on LibMTL's logits at learning rate lr / Ḡ (softmax is shift-invariant, so the z(z·g) term drops).
    stepped = torch.tensor(case["logits"]) - lr / case["mean_weighted_norm"] * torch.tensor(case["logit_gradient"])
    expected = (T * torch.softmax(stepped, 0)).tolist()
    assert list(strategy.current_weights().values()) == pytest.approx(expected, rel=1e-5)


def test_dwa_matches_libmtl_with_epochs_as_windows():
    reference = REFERENCE["dwa"]
    strategy = DynamicWeightAverage(TASKS, temperature=reference["temperature"], window=reference["window"])
    ours = [weights_list(strategy.weigh(as_losses(losses), step)[1]) for step, losses in enumerate(reference["losses"])]
    assert torch.allclose(torch.tensor(ours), torch.tensor(reference["weights"]), rtol=0, atol=1e-6)


def test_uncertainty_regression_form_matches_libmtl_uw_under_sgd():
    reference = REFERENCE["uncertainty"]
    strategy = UncertaintyWeighting(TASKS, init=reference["init"])
    optimizer = torch.optim.SGD(strategy.parameters(), lr=reference["lr"])
    ours = []
    for step, losses in enumerate(reference["losses"]):
        total, weights = strategy.weigh(as_losses(losses), step)
        ours.append(weights_list(weights))
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert torch.allclose(torch.tensor(ours), torch.tensor(reference["weights"]), rtol=0, atol=1e-6)
    assert torch.allclose(strategy.log_variances.detach(), torch.tensor(reference["log_variances"]), atol=1e-6)


def test_rlw_draws_libmtls_weights_times_the_task_count():
    reference = REFERENCE["rlw"]
    strategy = RandomLossWeighting(TASKS, seed=reference["seed"])
    losses = as_losses([1.0, 2.0, 3.0])
    ours = [weights_list(strategy.weigh(losses, step)[1]) for step in range(len(reference["weights"]))]
    assert torch.allclose(torch.tensor(ours), T * torch.tensor(reference["weights"]), rtol=0, atol=1e-6)


def test_fixed_defaults_are_libmtls_equal_weighting():
    _, weights = FixedWeighting(TASKS).weigh(as_losses([1.0, 2.0, 3.0]), 0)
    assert weights_list(weights) == REFERENCE["ew"]["weights"]
