"""The base class every loss-weighting strategy implements, and the rules the rest of weightsearch relies on."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from weightsearch.weighting._indexing import PresentTasks, Selection, TaskIndex
from weightsearch.weighting._params import check_tasks


class WeightingStrategy(nn.Module, abc.ABC):
    """Turns the per-task losses of one step into a weighted total; subclass it and implement :meth:`_weigh`.

    The rules a strategy keeps, because specs, ``CompositeLoss`` and the trainer's checkpoints rely on them
    (``examples/custom_strategy.py`` is a worked example):

    - Hyperparameters are typed keyword-only constructor arguments after ``tasks``, with a default
      where one makes sense, and the body starts with ``super().__init__(tasks)``::

          def __init__(self, tasks: Sequence[str], *, lr: float = 0.025, window: int = 1) -> None:

      Specs, the search-space check and ``make_strategy`` pass keyword-only arguments and nothing
      else (``strategy_arguments`` lists them). Reject a bad value with a ``UserError`` that names
      ``self.name`` and the parameter.
    - State round-trips through ``state_dict``, so a resumed trial goes on bit for bit. Tensors are
      buffers (``register_buffer``), or ``nn.Parameter``s where the user's main optimizer trains them
      (uncertainty's log-variances). Host-side state (counts, last step's tasks, a ``torch.Generator``)
      goes through ``get_extra_state`` / ``set_extra_state`` as a dict of lists, ints and tensors,
      which ``torch.load(weights_only=True)`` accepts (gradnorm, dwa, famo, rlw). A buffer derived from
      other state is ``persistent=False`` and recomputed in ``set_extra_state`` (dwa); a hyperparameter
      held as a tensor is ``persistent=False`` so a checkpoint cannot override the run's value (fixed).
    - Weights a step's total was formed with are replaced, not modified in place: the graph still
      holding them must stay valid until ``backward``.
    - Absent tasks leave state untouched: :meth:`_weigh` sees the present tasks only and writes
      per-task state at ``present.selection`` alone.
    - Weights come back detached: :meth:`weigh` detaches what :meth:`_weigh` returns, so only the
      total carries gradients; :meth:`_total` forms it (override it only to add terms, as uncertainty).
    - ``weights`` is a per-task tensor (buffer or property) of the effective weights as of the latest
      step, in ``self.tasks`` order; :meth:`current_weights` reads it.
    - Flags: ``needs_shared_parameters`` to be given the last shared layer's parameters,
      ``needs_positive_losses`` when the formula takes ratios or logarithms of the losses.
    - ``name`` is the registry name that ``@register`` sets; a class outside the package is named by
      its import path ``"package.module:Class"``, which a spec uses as it would a registered name.
    """

    name: ClassVar[str] = ""
    """The name a spec uses: set by ``@register``, else the class's import path; used in error messages."""

    needs_shared_parameters: ClassVar[bool] = False
    """Whether :meth:`_weigh` needs the parameters of the last shared layer (gradient-based strategies)."""

    needs_positive_losses: ClassVar[bool] = False
    """Whether the formula takes ratios or logarithms of the losses, so they must stay above zero."""

    weights: torch.Tensor
    """Per-task effective weights as of the latest step (before any step: the initial ones)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = f"{cls.__module__}:{cls.__qualname__}"

    def __init__(self, tasks: Sequence[str]) -> None:
        super().__init__()
        self.tasks: tuple[str, ...] = check_tasks(tasks)
        self._index = TaskIndex(self.tasks)
        # Zero-size and not saved: it follows ``.to()``, so losses are stacked in the strategy's dtype
        # (mixed precision promoted) and indexed on its device without asking a subclass's state.
        self.register_buffer("_placement", torch.zeros(0), persistent=False)

    def weigh(
        self,
        losses: Mapping[str, torch.Tensor],
        step: int,
        shared_parameters: Sequence[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Weigh one step's losses; called by ``CompositeLoss`` once per training step.

        Args:
            losses: ``{task: scalar loss}`` (already normalised) for the tasks present this step, in
                the order of ``self.tasks``; absent tasks contribute nothing and leave state untouched.
            step: the training step index.
            shared_parameters: parameters of the last shared layer; required when the class sets
                ``needs_shared_parameters``.

        Returns:
            The weighted total (a scalar to backpropagate) and ``{task: detached scalar weight}``
            for the present tasks: the factor this step multiplies each loss by.
        """
        if self.needs_shared_parameters and shared_parameters is None:
            raise ValueError(
                f"strategy {self.name!r} needs the shared parameters (the last shared layer's) to weigh the losses"
            )
        present = self._index.present(losses, self._placement)
        weights = self._weigh(present, step, shared_parameters)
        return self._total(weights, present), dict(zip(losses, weights.detach().unbind()))

    @abc.abstractmethod
    def _weigh(
        self, present: PresentTasks, step: int, shared_parameters: Sequence[torch.Tensor] | None
    ) -> torch.Tensor:
        """The present tasks' weights this step (``[P]``), updating the state on the way; called by :meth:`weigh`.

        ``present`` holds the present tasks' losses stacked in the strategy's dtype, their positions
        in ``self.tasks`` and their index into per-task tensors (``self.weights[present.selection]``).
        ``shared_parameters`` are the last shared layer's when ``needs_shared_parameters``, else ``None``.
        """

    def _total(self, weights: torch.Tensor, present: PresentTasks) -> torch.Tensor:
        """The scalar to backpropagate, ``Σ_i w_i L_i``; overridden where the objective adds terms (uncertainty)."""
        return (weights * present.losses).sum()

    def current_weights(self) -> dict[str, float]:
        """The effective weight of every task as of the latest step (before any step: the initial ones)."""
        return dict(zip(self.tasks, self.weights.tolist()))

    def _selection(self, positions: Sequence[int], device: torch.device, size: int | None = None) -> Selection:
        """Index of ``positions`` into per-task tensors (or ones of length ``size``); see ``TaskIndex.selection``."""
        return self._index.selection(positions, device, size)
