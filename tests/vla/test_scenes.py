import numpy as np

from weightsearch.vla import scenes


def test_language_is_necessary_same_image_different_instruction_different_action():
    rng = np.random.default_rng(0)
    for _ in range(50):
        target = scenes.SEEN_COMBINATIONS[int(rng.integers(len(scenes.SEEN_COMBINATIONS)))]
        scene = scenes.place(scenes.action_objects(target, rng), rng)
        actions = {scenes.expert_action(scene, index) for index in range(len(scene.objects))}
        assert len(actions) == len(scene.objects)


def test_action_scenes_hold_same_colour_and_same_shape_distractors():
    rng = np.random.default_rng(1)
    target = scenes.combination(2, 3)
    objects = scenes.action_objects(target, rng)
    colours = [scenes.split_combination(combo)[0] for combo in objects]
    shapes = [scenes.split_combination(combo)[1] for combo in objects]
    assert len(set(objects)) == len(objects)
    assert colours[1] == 2 and shapes[1] != 3
    assert shapes[2] == 3 and colours[2] != 2


def test_held_out_combinations_cover_every_colour_and_shape_once():
    parts = [scenes.split_combination(combo) for combo in scenes.HELD_OUT_COMBINATIONS]
    assert sorted(colour for colour, _ in parts) == list(range(len(scenes.COLOURS)))
    assert sorted(shape for _, shape in parts) == list(range(len(scenes.SHAPES)))


def test_render_draws_each_object_in_its_cell_and_the_agent():
    scene = scenes.Scene(objects=(scenes.combination(0, 0),), cells=((1, 2),), agent=(3, 0))
    image = scenes.render(scene)
    cell = image[:, scenes.CELL : 2 * scenes.CELL, 2 * scenes.CELL : 3 * scenes.CELL]
    assert cell[0].max() == 230 and cell[2].max() == 40
    agent_cell = image[:, 3 * scenes.CELL :, : scenes.CELL]
    assert (agent_cell == 255).all(axis=0).sum() == 4
    assert image.sum() == cell.sum() + agent_cell.sum()
