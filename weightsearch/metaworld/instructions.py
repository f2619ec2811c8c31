"""Natural-language instructions for MetaWorld tasks: paraphrases, a train/held-out template split, tokens."""

from __future__ import annotations

import re
from functools import cache

import torch

from weightsearch.metaworld.suite import all_task_names

# Two phrasings of each MT10 goal; other v3 tasks get one phrase read from their name.
PHRASES = {
    "reach-v3": ("reach the goal position", "move the gripper to the target"),
    "push-v3": ("push the puck to the goal", "slide the puck to the target"),
    "pick-place-v3": ("pick up the puck and place it at the goal", "grasp the puck and put it on the target"),
    "door-open-v3": ("open the door", "swing the door open"),
    "drawer-open-v3": ("open the drawer", "pull the drawer out"),
    "drawer-close-v3": ("close the drawer", "push the drawer shut"),
    "button-press-topdown-v3": ("press the button from the top", "push the button down"),
    "peg-insert-side-v3": ("insert the peg into the hole", "put the peg in the side hole"),
    "window-open-v3": ("open the window", "slide the window open"),
    "window-close-v3": ("close the window", "slide the window shut"),
}
TRAIN_TEMPLATES = ("{}", "please {}", "{} now", "robot, {}", "i need you to {}")
HELD_OUT_TEMPLATES = ("could you {}?", "your job is to {}", "go ahead and {}")
TEXT_LENGTH = 16
PAD, UNKNOWN, MASK = 0, 1, 2
_SPECIAL_TOKENS = ("<pad>", "<unk>", "<mask>")


def phrases(task: str) -> tuple[str, ...]:
    """The goal phrases of ``task``: hand-written for MT10, ``"drawer-open-v3"`` → ``"drawer open"`` else."""
    return PHRASES.get(task, (task.removesuffix("-v3").replace("-", " "),))


def instructions(task: str, split: str) -> tuple[str, ...]:
    """Every instruction of ``task`` in ``split`` (``"train"`` or ``"held_out"``): templates × phrases."""
    templates = {"train": TRAIN_TEMPLATES, "held_out": HELD_OUT_TEMPLATES}[split]
    return tuple(template.format(phrase) for template in templates for phrase in phrases(task))


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped."""
    return re.findall(r"[a-z]+", text.lower())


@cache
def vocabulary() -> dict[str, int]:
    """Word → id over the instructions of every v3 task, so ids do not depend on the chosen task set."""
    every_word = {
        word
        for task in all_task_names()
        for split in ("train", "held_out")
        for text in instructions(task, split)
        for word in words(text)
    }
    return {word: index for index, word in enumerate(_SPECIAL_TOKENS + tuple(sorted(every_word)))}


def tokenize(texts: list[str] | tuple[str, ...]) -> torch.Tensor:
    """Instructions → ``(N, TEXT_LENGTH)`` long ids, padded with ``PAD`` (longer ones truncated)."""
    ids = vocabulary()
    rows = []
    for text in texts:
        row = [ids.get(word, UNKNOWN) for word in words(text)][:TEXT_LENGTH]
        rows.append(row + [PAD] * (TEXT_LENGTH - len(row)))
    return torch.tensor(rows, dtype=torch.long)
