"""The surrogate over λ on real SQLite studies of synthetic finished trials: it finds a planted optimum,
its proposals are valid Optuna params of the conditional space, and bad input is one clear error."""

from __future__ import annotations

import warnings

import numpy as np
import optuna
import pytest

from weightsearch.config import load_space
from weightsearch.config.kinds import FixedValues
from weightsearch.errors import UserError
from weightsearch.search.surrogate import needed_trials, propose

SPACE = load_space(
    {
        "strategy": {
            "fixed": {"weights": {"simplex": ["action", "align", "recon"], "total": 3}},
            "gradnorm": {"alpha": {"float": [0.5, 2.0]}},
        },
        "parameters": {
            "lr": {"float": [1.0e-3, 1.0e-1], "log": True},
            "batch_size": {"int": [8, 64], "step": 8},
            "normalization": {"choice": ["none", "ema"]},
        },
    }
)
PLANTED = {"action": 0.6, "align": 0.3, "recon": 0.1}  # the best point, as fractions of the total


def _objective(values: dict) -> float:
    """A bowl around the planted λ (and lr 1e-2) for `fixed`; gradnorm trials are flat and worse."""
    if values["strategy"] != "fixed":
        return 1.0 + 0.1 * (values["strategy_params.alpha"] - 1.0) ** 2
    distance = sum((values[f"strategy_params.weights.{task}"] / 3 - share) ** 2 for task, share in PLANTED.items())
    return distance + 0.01 * (np.log10(values["lr"]) + 2) ** 2


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path_factory.mktemp('surrogate') / 'optuna.db'}"
    study = optuna.create_study(storage=url, study_name="bowl", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: _objective(SPACE.sample(trial)), n_trials=50)
    return study


def test_the_proposal_lands_near_the_planted_optimum(study):
    trials = study.get_trials(deepcopy=False)
    proposals = propose(trials, SPACE, "minimize", 3, strategy="fixed")
    assert len(proposals) == 3
    best = proposals[0]
    shares = {path.rsplit(".", 1)[1]: weight / 3 for path, weight in best.weights.items()}
    assert all(abs(shares[task] - share) < 0.08 for task, share in PLANTED.items()), shares
    observed = min(trial.value for trial in trials if trial.params["strategy"] == "fixed")
    assert best.mean < observed and best.std > 0
    assert [proposal.mean for proposal in proposals] == sorted(proposal.mean for proposal in proposals)

    # Three proposals, three different configurations.
    def apart(first, second) -> bool:
        weights = np.array(list(first.weights.values())) - np.array(list(second.weights.values()))
        lr = abs(np.log(first.values["lr"] / second.values["lr"]))
        other = any(first.values[name] != second.values[name] for name in ("batch_size", "normalization"))
        return bool(np.linalg.norm(weights) > 0.05 or lr > 0.1 or other)

    assert all(apart(first, second) for index, first in enumerate(proposals) for second in proposals[index + 1 :])
    # Maximising the negated objective proposes the same place.
    flipped = [
        optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=-t.value) for t in trials
    ]
    assert propose(flipped, SPACE, "maximize", 1, strategy="fixed")[0].params == best.params


def test_proposals_are_what_the_space_samples_when_enqueued(study):
    proposals = propose(study.get_trials(deepcopy=False), SPACE, "minimize", 2, strategy="fixed")
    proposals += propose(study.get_trials(deepcopy=False), SPACE, "minimize", 1, strategy="gradnorm")
    for proposal in proposals:
        assert SPACE.sample(FixedValues(proposal.params)) == proposal.values
        assert proposal.values["batch_size"] % 8 == 0 and proposal.values["normalization"] in ("none", "ema")
    fresh = optuna.create_study()
    for proposal in proposals:
        fresh.enqueue_trial(proposal.params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna warns when a fixed value lies outside its distribution
        for proposal in proposals:
            trial = fresh.ask()
            assert SPACE.sample(trial) == proposal.values


def test_bad_input_is_one_clear_error(study):
    trials = study.get_trials(deepcopy=False)
    with pytest.raises(UserError, match=r"n: propose at least 1 configuration \(got 0\)"):
        propose(trials, SPACE, "minimize", 0, strategy="fixed")
    with pytest.raises(UserError, match="'famo' is not a strategy of the space; use one of: fixed, gradnorm"):
        propose(trials, SPACE, "minimize", 1, strategy="famo")
    few = [trial for trial in trials if trial.params["strategy"] == "fixed"][:3]
    needed = needed_trials(SPACE, "fixed")
    assert needed == 3 + 1 + 1 + 1 + 2  # simplex 3, lr, batch_size, normalization one-hot less one; + 2
    with pytest.raises(
        UserError, match=f"needs at least {needed} finished trials of strategy 'fixed', the study has 3"
    ):
        propose(few, SPACE, "minimize", 1, strategy="fixed")
    without_strategy = load_space({"parameters": {"lr": {"float": [1.0e-3, 1.0e-1], "log": True}}})
    with pytest.raises(UserError, match="the space does not sample the strategy"):
        propose(trials, without_strategy, "minimize", 1, strategy="fixed")
