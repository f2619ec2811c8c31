import math

import pytest
import torch

from weightsearch.errors import UserError
from weightsearch.metaworld import build_metaworld
from weightsearch.metaworld.instructions import instructions, tokenize
from weightsearch.trial import TrialConfig, train

SMALL = {"tasks": ["reach-v3", "drawer-close-v3"], "episodes": 2, "image_size": 32, "horizon": 100, "eval_episodes": 1}
CPU = torch.device("cpu")


def options(cache_dir, **changes):
    return {**SMALL, "cache_dir": str(cache_dir), **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tasks": ["reach-v3", "fly-v3"]}, r"'fly-v3' is not a MetaWorld v3 environment; valid: .*reach-v3"),
        ({"closed_loop": "final"}, r"options.steps must be the trial's steps"),
        ({"closed_loop": "sometimes"}, r"options.closed_loop must be one of final, every_eval, off"),
        ({"image_size": 30}, r"options.image_size must be a multiple of 8"),
        ({"horizon": 501}, r"options.horizon must be at most 500"),
        ({"losses": ["action", "depth"]}, r"options.losses: 'depth' is not a task"),
        ({"colour": "red"}, r"options.colour is not an option"),
    ],
)
def test_bad_options_raise_one_line_user_errors(cache_dir, changes, message):
    with pytest.raises(UserError, match=message):
        build_metaworld(options(cache_dir, **{"closed_loop": "off", **changes}), seed=0, batch_size=4, device=CPU)


def test_batches_are_deterministic_and_validation_uses_held_out_instructions(cache_dir):
    components = build_metaworld(options(cache_dir, closed_loop="off"), seed=3, batch_size=8, device=CPU)
    first, again = components.train_batch(5), components.train_batch(5)
    assert torch.equal(first.inputs.images, again.inputs.images)
    assert torch.equal(first.inputs.instructions, again.inputs.instructions)
    assert not torch.equal(first.inputs.images, components.train_batch(6).inputs.images)
    held_out = {tuple(row.tolist()) for task in SMALL["tasks"] for row in tokenize(instructions(task, "held_out"))}
    (validation,) = components.val_batches
    assert {tuple(row.tolist()) for row in validation.inputs.instructions} <= held_out
    assert not {tuple(row.tolist()) for row in first.inputs.instructions} & held_out
    losses = components.task_losses(components.model, first)
    assert set(losses) == set(components.tasks) == {"action", "action_token", "align", "recon_patch", "recon_token"}
    assert all(torch.isfinite(loss) for loss in losses.values())


def test_a_short_trial_reports_closed_loop_success_at_its_final_evaluation(cache_dir):
    reports = []
    config = TrialConfig(
        model="weightsearch.metaworld:build_metaworld",
        options=options(cache_dir, closed_loop="final", steps=6),
        steps=6,
        eval_every=3,
        batch_size=8,
        lr=3e-3,
        diagnostics=False,
    )
    final = train(config, report=lambda metrics, checkpoint: reports.append(metrics))
    assert [report["step"] for report in reports] == [3.0, 6.0]
    # Not measured before the last evaluation, yet reported (Ray Tune wants the objective in every result).
    assert math.isnan(reports[0]["val/success_rate"]) and "val/success_rate/reach-v3" not in reports[0]
    for name in ("val/success_rate", "val/success_rate/reach-v3", "val/success_rate/drawer-close-v3"):
        assert 0.0 <= final[name] <= 1.0
    for name in ("val/action/mse", "val/align/recall_at_1", "val/recon_patch/mse", "train/loss/total"):
        assert math.isfinite(final[name])


def test_every_eval_runs_the_rollouts_at_each_evaluation(cache_dir):
    components = build_metaworld(
        options(cache_dir, tasks=["reach-v3"], closed_loop="every_eval", horizon=20), seed=0, batch_size=4, device=CPU
    )
    with torch.no_grad():
        metrics = components.task_metrics(components.model.eval(), components.val_batches)
    assert set(metrics) >= {"success_rate", "success_rate/reach-v3", "action/mse", "action_token/accuracy"}
