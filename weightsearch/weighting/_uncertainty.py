"""Homoscedastic-uncertainty weighting with learnable log-variances (Kendall, Gal & Cipolla, 2018)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from weightsearch.errors import UserError
from weightsearch.weighting._base import WeightingStrategy
from weightsearch.weighting._indexing import PresentTasks
from weightsearch.weighting._params import check_mapping, check_number
from weightsearch.weighting._registry import register

FORM_FACTORS = {"regression": 0.5, "classification": 1.0}
"""Factor on ``e^{-s} L`` per loss form: Gaussian likelihood ``1/(2σ²)``, softmax likelihood ``1/σ²``."""


@register("uncertainty")
class UncertaintyWeighting(WeightingStrategy):
    """``L = Σ_i c_i e^{-s_i} L_i + ½ s_i``, learnable ``s_i = log σ_i²``, ``c_i`` ½ (regression) or 1 (classification).

    Kendall et al., "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene Geometry and
    Semantics", CVPR 2018, eqs. 7 and 10 (``log σ`` = ``½ s``). The effective weight is
    ``c_i e^{-s_i}``; for a regression task the optimum over ``s`` is ``s = log L``. LibMTL applies
    the regression form ``½e^{-s}L + ½s`` to every task, from ``s = -0.5``; we follow the paper and
    pick the form per task via ``forms`` (tasks left out are regression), from ``s = init``. ``s`` is an ``nn.Parameter`` trained by the
    user's main optimizer (best without weight decay, which would pull ``σ`` towards 1).
    """

    def __init__(
        self,
        tasks: Sequence[str],
        *,
        forms: Mapping[str, str] | None = None,
        init: float = 0.0,
    ) -> None:
        super().__init__(tasks)
        forms = check_mapping(self.name, "forms", forms)
        unknown = sorted(set(forms) - set(self.tasks))
        if unknown:
            raise UserError(
                f"{self.name}: parameter 'forms' names unknown task(s) {unknown}; known tasks: {list(self.tasks)}"
            )
        for task, form in forms.items():
            if form not in FORM_FACTORS:
                raise UserError(
                    f"{self.name}: parameter 'forms.{task}' must be one of {sorted(FORM_FACTORS)}, got {form!r}"
                )
        start = check_number(self.name, "init", init)
        self.log_variances = nn.Parameter(torch.full((len(self.tasks),), start))
        factors = [FORM_FACTORS[forms.get(task, "regression")] for task in self.tasks]
        self.register_buffer("form_factors", torch.tensor(factors), persistent=False)

    @property
    def weights(self) -> torch.Tensor:
        """The effective weights ``c_i e^{-s_i}`` (detached) at the current log-variances."""
        return self.form_factors * torch.exp(-self.log_variances.detach())

    def _weigh(
        self, present: PresentTasks, step: int, shared_parameters: Sequence[torch.Tensor] | None
    ) -> torch.Tensor:
        return self.form_factors[present.selection] * torch.exp(-self.log_variances[present.selection])

    def _total(self, weights: torch.Tensor, present: PresentTasks) -> torch.Tensor:
        """``Σ_i c_i e^{-s_i} L_i + ½ s_i``: the weighted losses plus the log-variance regulariser."""
        return torch.addcmul(0.5 * self.log_variances[present.selection], weights, present.losses).sum()
