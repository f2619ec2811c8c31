"""Writing and reading trainer checkpoints."""

from __future__ import annotations

import random

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.trial.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint


def test_saving_a_step_again_replaces_it_and_leaves_no_staging_directories(tmp_path):
    save_checkpoint(tmp_path, 10, {"step": 10, "value": torch.tensor(1.0)})
    path = save_checkpoint(tmp_path, 10, {"step": 10, "value": torch.tensor(2.0)})
    assert [entry.name for entry in tmp_path.iterdir()] == ["step_0000010"]
    assert load_checkpoint(path)["value"].item() == 2.0


def test_a_directory_without_state_is_not_a_checkpoint(tmp_path):
    with pytest.raises(UserError, match="resume_from: .* is not a trainer checkpoint"):
        load_checkpoint(tmp_path)


def test_restored_generators_repeat_their_draws():
    state = capture_rng_state(torch.device("cpu"))
    first = (torch.rand(3), random.random())
    restore_rng_state(state, torch.device("cpu"))
    assert torch.equal(torch.rand(3), first[0]) and random.random() == first[1]
