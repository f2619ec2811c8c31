import re

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.trial.components import TrialComponents
from weightsearch.vla import build_reference

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sise": "tiny"}, "options.sise is not an option of the reference model; valid options: size, tasks"),
        ({"size": "huge"}, "options.size must be one of tiny, small, base"),
        ({"tasks": ["action", "grasp"]}, "'grasp' is not a task of the reference model"),
        ({"tasks": "action"}, "options.tasks must be a non-empty list"),
        ({"caption_ratio": 1.0}, "options.caption_ratio must be a number in [0, 1)"),
        ({"action_examples": 0}, "options.action_examples must be an integer >= 1"),
        ({"caption_examples": 1}, "options.caption_examples must be an integer >= 2"),
    ],
)
def test_bad_options_raise_a_user_error_naming_the_option(options, message):
    with pytest.raises(UserError, match=re.escape(message)):
        build_reference({"size": "tiny", **options}, seed=0, batch_size=16, device=CPU)


def test_a_batch_too_small_for_the_mixture_is_a_user_error():
    with pytest.raises(UserError, match="batch_size 1"):
        build_reference({"size": "tiny"}, seed=0, batch_size=1, device=CPU)


def test_build_reference_keeps_the_plug_in_contract():
    components = build_reference({"size": "tiny"}, seed=0, batch_size=16, device=CPU)
    assert isinstance(components, TrialComponents)
    assert components.tasks == ("action", "action_token", "align", "recon_patch", "recon_token")
    assert components.loss_forms["action"] == "regression"
    assert components.loss_forms["action_token"] == "classification"


def test_a_short_tiny_training_run_reduces_the_action_loss():
    torch.set_num_threads(1)
    components = build_reference({"size": "tiny"}, seed=0, batch_size=32, device=CPU)
    model = components.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def action_loss() -> float:
        with torch.no_grad():
            return components.task_losses(model, components.val_batches[1])["action"].item()

    before = action_loss()
    for step in range(60):
        total = sum(components.task_losses(model, components.train_batch(step)).values())
        optimizer.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    assert action_loss() < 0.7 * before
