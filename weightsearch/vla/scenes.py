"""Procedural scenes: coloured glyphs on a cell grid, an agent dot, and the words that name them.

A scene is a ``GRID × GRID`` board of ``CELL``-pixel cells; each object is a glyph (one of
``SHAPES``) drawn in one of ``COLOURS`` in its own cell, and a white agent dot sits in another.
Positions are in cell units (cell centres are the integers ``0 … GRID−1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = 4
CELL = 6
IMAGE_SIZE = GRID * CELL

COLOURS = ("red", "green", "blue", "yellow")
SHAPES = ("square", "ring", "cross", "plus")
_RGB = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 240), "yellow": (230, 210, 40)}
_AGENT_RGB = (255, 255, 255)

# Vocabulary: a mask token, a task word for instructions ("go") and captions ("a"), then colours and shapes.
MASK_TOKEN = 0
GO_TOKEN = 1
CAPTION_TOKEN = 2
COLOUR_TOKENS = tuple(3 + index for index in range(len(COLOURS)))
SHAPE_TOKENS = tuple(3 + len(COLOURS) + index for index in range(len(SHAPES)))
VOCABULARY_SIZE = 3 + len(COLOURS) + len(SHAPES)
TEXT_LENGTH = 3  # (task word, colour, shape)
COLOUR_POSITION = 1
SHAPE_POSITION = 2

COMBINATIONS = len(COLOURS) * len(SHAPES)
# One unseen shape per colour (a Latin diagonal), so every colour and every shape still appears
# as an action target in training: the held-out split tests composition, not new words.
HELD_OUT_COMBINATIONS = frozenset(colour * len(SHAPES) + (colour + 1) % len(SHAPES) for colour in range(len(COLOURS)))
SEEN_COMBINATIONS = tuple(combo for combo in range(COMBINATIONS) if combo not in HELD_OUT_COMBINATIONS)


def _glyph_masks() -> np.ndarray:
    """Boolean ``(len(SHAPES), CELL, CELL)`` pixel masks of the glyphs."""
    rows, cols = np.mgrid[0:CELL, 0:CELL]
    square = (rows >= 1) & (rows <= 4) & (cols >= 1) & (cols <= 4)
    ring = square & ~((rows >= 2) & (rows <= 3) & (cols >= 2) & (cols <= 3))
    cross = (rows == cols) | (rows + cols == CELL - 1)
    plus = ((rows >= 2) & (rows <= 3)) | ((cols >= 2) & (cols <= 3))
    return np.stack([square, ring, cross, plus])


_GLYPHS = _glyph_masks()


def combination(colour: int, shape: int) -> int:
    """Index of a colour–shape combination, ``colour · len(SHAPES) + shape``."""
    return colour * len(SHAPES) + shape


def split_combination(combo: int) -> tuple[int, int]:
    """Inverse of :func:`combination`: ``(colour, shape)``."""
    return divmod(combo, len(SHAPES))


def text_tokens(task_token: int, combo: int) -> list[int]:
    """Tokens of ``"<go|a> <colour> <shape>"`` for a combination."""
    colour, shape = split_combination(combo)
    return [task_token, COLOUR_TOKENS[colour], SHAPE_TOKENS[shape]]


@dataclass(frozen=True)
class Scene:
    """Objects (combination ids) at cells ``(row, col)`` plus the agent's cell."""

    objects: tuple[int, ...]
    cells: tuple[tuple[int, int], ...]
    agent: tuple[int, int]


def place(objects: list[int], rng: np.random.Generator) -> Scene:
    """Put the objects and the agent on distinct random cells."""
    picks = rng.choice(GRID * GRID, size=len(objects) + 1, replace=False)
    cells = tuple(divmod(int(pick), GRID) for pick in picks)
    return Scene(objects=tuple(objects), cells=cells[:-1], agent=cells[-1])


def render(scene: Scene) -> np.ndarray:
    """The scene as a ``(3, IMAGE_SIZE, IMAGE_SIZE)`` uint8 RGB image on black."""
    image = np.zeros((3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for combo, (row, col) in zip(scene.objects, scene.cells):
        colour, shape = split_combination(combo)
        cell = image[:, row * CELL : (row + 1) * CELL, col * CELL : (col + 1) * CELL]
        cell[:, _GLYPHS[shape]] = np.array(_RGB[COLOURS[colour]], dtype=np.uint8)[:, None]
    row, col = scene.agent
    centre = CELL // 2
    image[:, row * CELL + centre - 1 : row * CELL + centre + 1, col * CELL + centre - 1 : col * CELL + centre + 1] = (
        np.array(_AGENT_RGB, dtype=np.uint8)[:, None, None]
    )
    return image


def expert_action(scene: Scene, target_index: int) -> tuple[float, float]:
    """Displacement from the agent to the named object, ``(Δcol, Δrow) / (GRID − 1)`` ∈ [−1, 1]²."""
    row, col = scene.cells[target_index]
    agent_row, agent_col = scene.agent
    return ((col - agent_col) / (GRID - 1), (row - agent_row) / (GRID - 1))


def action_objects(target: int, rng: np.random.Generator) -> list[int]:
    """Target first, then a same-colour and a same-shape distractor and one more random object (all distinct).

    The two attribute-sharing distractors make both words of the instruction necessary.
    """
    colour, shape = split_combination(target)
    other_shapes = [s for s in range(len(SHAPES)) if s != shape]
    other_colours = [c for c in range(len(COLOURS)) if c != colour]
    same_colour = combination(colour, int(rng.choice(other_shapes)))
    same_shape = combination(int(rng.choice(other_colours)), shape)
    taken = {target, same_colour, same_shape}
    rest = [combo for combo in range(COMBINATIONS) if combo not in taken]
    return [target, same_colour, same_shape, int(rng.choice(rest))]


def caption_scene_objects(rng: np.random.Generator, count: int = 3) -> list[int]:
    """``count`` objects with pairwise different colours and shapes, so one word names each uniquely."""
    colours = rng.choice(len(COLOURS), size=count, replace=False)
    shapes = rng.choice(len(SHAPES), size=count, replace=False)
    return [combination(int(colour), int(shape)) for colour, shape in zip(colours, shapes)]
