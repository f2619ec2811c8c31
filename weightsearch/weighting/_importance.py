"""Importance weights: relative priorities turned into weights that sum to the number of tasks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from weightsearch.errors import UserError
from weightsearch.weighting._fixed import FixedWeighting
from weightsearch.weighting._params import check_tasks, per_task_values
from weightsearch.weighting._registry import register


@register("importance")
class ImportanceWeighting(FixedWeighting):
    """``w_i = T · p_i / Σ_j p_j`` for priorities ``p_i >= 0`` (unlisted tasks: ``p = 1``).

    A primary task with auxiliaries is ``{primary: 4, aux_1: 1, aux_2: 1}``: the primary gets four
    times an auxiliary's weight while the total scale stays that of ``T`` equally weighted tasks,
    so a sweep can search the ratio without also moving the effective learning rate. The sum runs
    over all tasks, so a task's weight does not change on steps where others are absent. Once the
    priorities are normalised it is the fixed weighted sum.
    """

    def __init__(self, tasks: Sequence[str], *, priorities: Mapping[str, float] | None = None) -> None:
        tasks = check_tasks(tasks)
        values = per_task_values(self.name, "priorities", priorities, tasks, default=1.0)
        if sum(values) <= 0:
            raise UserError(f"{self.name}: parameter 'priorities' must give at least one task a priority > 0")
        super().__init__(tasks, weights={task: len(tasks) * value / sum(values) for task, value in zip(tasks, values)})
