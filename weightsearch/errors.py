"""Exceptions weightsearch raises on purpose."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input the user can fix: the message names the field and the fix; the CLI exits 2.

    A ValueError, so that library code catching bad arguments the usual way catches it too."""


class NonFiniteLossError(FloatingPointError):
    """A task loss became NaN or infinite, so the trial must end as failed (not crash the sweep)."""

    def __init__(self, task: str, step: int, value: float) -> None:
        super().__init__(f"non-finite loss for task {task!r} at step {step}: {value}")
        self.task = task
        self.step = step
        self.value = value

    def __reduce__(self) -> tuple[type, tuple[str, int, float]]:
        # Ray copies and pickles a trial's exception; the default rebuilds it from the message alone.
        return (type(self), (self.task, self.step, self.value))
