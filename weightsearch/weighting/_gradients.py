"""Per-task gradients on the shared parameters, for gradient-based strategies and diagnostics."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def task_gradients(losses: torch.Tensor, parameters: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """For each parameter, the gradients of the ``T`` stacked losses: a ``[T, *parameter.shape]`` tensor.

    One batched backward pass (``is_grads_batched``) instead of ``T``: on a launch-bound step the
    number of kernel launches, not the arithmetic, is the cost. Only the graph between the losses
    and ``parameters`` is traversed (for the last shared layer, the task heads), and it is retained
    so the caller can still backpropagate the total. A loss that does not reach a parameter gives zeros.
    """
    parameters = list(parameters)
    count = losses.shape[0]
    if not losses.requires_grad:
        return [torch.zeros((count, *parameter.shape), device=parameter.device) for parameter in parameters]
    selectors = torch.eye(count, device=losses.device, dtype=losses.dtype)
    try:
        gradients = torch.autograd.grad(
            losses, parameters, grad_outputs=selectors, retain_graph=True, allow_unused=True, is_grads_batched=True
        )
    except RuntimeError:
        # A user's custom autograd.Function without vmap support cannot run batched: one pass per task.
        rows = [
            torch.autograd.grad(losses[task], parameters, retain_graph=True, allow_unused=True) for task in range(count)
        ]
        gradients = [
            None if all(row[index] is None for row in rows)
            else torch.stack([torch.zeros_like(parameter) if row[index] is None else row[index] for row in rows])
            for index, parameter in enumerate(parameters)
        ]
    return [
        torch.zeros((count, *parameter.shape), device=parameter.device) if gradient is None else gradient
        for parameter, gradient in zip(parameters, gradients)
    ]


def task_jacobian(losses: torch.Tensor, parameters: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[T, n]`` float32 matrix whose row i is ``∇_θ L_i`` flattened over ``parameters``."""
    return torch.cat([gradient.flatten(1).float() for gradient in task_gradients(losses, parameters)], dim=1)


def task_gramian(losses: torch.Tensor, parameters: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[T, T]`` float32 Gramian ``J Jᵀ`` of the tasks' gradients: norms on its diagonal, inner products off it."""
    gramian = None
    for gradient in task_gradients(losses, parameters):
        rows = gradient.flatten(1).float()
        product = rows @ rows.T
        gramian = product if gramian is None else gramian + product
    return gramian
