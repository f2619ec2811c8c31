import time

import numpy as np

from weightsearch.metaworld import CollectionSettings, load_or_collect
from weightsearch.metaworld.suite import expert_policy, make_env, render_frame

TASKS = ["reach-v3", "drawer-close-v3"]

SETTINGS = CollectionSettings(tasks=tuple(TASKS), episodes=2, image_size=32, camera="corner", seed=0, horizon=100)


def test_collects_expert_frames_then_reads_them_from_the_cache(cache_dir):
    started = time.perf_counter()
    first = load_or_collect(SETTINGS, cache_dir)
    collect_seconds = time.perf_counter() - started
    frames = len(first.images)
    assert not first.from_cache
    assert first.images.shape == (frames, 32, 32, 3) and first.images.dtype == np.uint8
    assert first.proprio.shape == first.actions.shape == (frames, 4)
    assert np.abs(first.actions).max() <= 1.0
    assert np.array_equal(np.unique(first.task_ids), [0, 1])
    assert len(first.episode_tasks) == len(first.episode_success) == 4
    # The experts of both tasks succeed in under 100 steps, and an episode stops at its success.
    assert first.episode_success.all()
    assert frames < 4 * 100

    started = time.perf_counter()
    second = load_or_collect(SETTINGS, cache_dir)
    cache_seconds = time.perf_counter() - started
    assert second.from_cache
    assert cache_seconds < collect_seconds / 5
    assert np.array_equal(second.images, first.images) and np.array_equal(second.actions, first.actions)
    assert len(list(cache_dir.glob("*.npz"))) == 1


def test_other_settings_get_another_cache_key():
    keys = {
        SETTINGS.key(),
        CollectionSettings(tuple(TASKS), 3, 32, "corner", 0, 100).key(),
        CollectionSettings(tuple(TASKS), 2, 32, "corner2", 0, 100).key(),
        CollectionSettings(tuple(TASKS), 2, 32, "corner", 1, 100).key(),
        CollectionSettings(tuple(reversed(TASKS)), 2, 32, "corner", 0, 100).key(),
    }
    assert len(keys) == 5


def test_frames_are_upright_and_the_expert_moves_the_hand():
    env = make_env("reach-v3", seed=0, image_size=32, camera="corner")
    try:
        state, _ = env.reset()
        frame = render_frame(env)
        # MuJoCo's raw frame is upside down; the flip makes row 0 the top of the image.
        assert np.array_equal(frame, env.render()[::-1])
        action = expert_policy("reach-v3").get_action(state)
        moved, *_ = env.step(np.clip(action, -1, 1))
        assert np.linalg.norm(moved[:3] - state[:3]) > 1e-4
    finally:
        env.close()


def test_without_write_nothing_is_written_and_a_missing_cache_is_collected_in_memory(tmp_path):
    # What `weightsearch validate` does (it creates nothing on disk).
    demonstrations = load_or_collect(SETTINGS, tmp_path / "cache", write=False)
    assert not demonstrations.from_cache and len(demonstrations.images) > 0
    assert not (tmp_path / "cache").exists()
