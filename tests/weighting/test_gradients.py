"""Per-task gradients on the shared parameters: batched backward, fallback and Gramian."""

import pytest
import torch
from torch import nn

from weightsearch.weighting import task_gradients, task_gramian, task_jacobian


class Cube(torch.autograd.Function):
    """A custom op whose backward reads a value on the host, which batched (vmapped) backward cannot run."""

    @staticmethod
    def forward(ctx, inputs):
        ctx.save_for_backward(inputs)
        return inputs**3

    @staticmethod
    def backward(ctx, grad_output):
        (inputs,) = ctx.saved_tensors
        if not torch.isfinite(grad_output).all().item():
            raise FloatingPointError("non-finite gradient")
        return 3 * inputs**2 * grad_output


def losses_and_layer(custom: bool):
    torch.manual_seed(0)
    layer = nn.Linear(3, 4)
    unused = nn.Parameter(torch.ones(2))
    features = layer(torch.randn(5, 3))
    if custom:
        features = Cube.apply(features)
    losses = torch.stack([features[:, 0].pow(2).mean(), features[:, 1:].sum(), features.abs().mean()])
    return losses, [layer.weight, layer.bias, unused]


@pytest.mark.parametrize("custom", [False, True])
def test_rows_are_the_per_task_gradients(custom):
    losses, parameters = losses_and_layer(custom)
    gradients = task_gradients(losses, parameters)
    for task in range(3):
        expected = torch.autograd.grad(losses[task], parameters[:2], retain_graph=True)
        assert torch.allclose(gradients[0][task], expected[0], atol=1e-6)
        assert torch.allclose(gradients[1][task], expected[1], atol=1e-6)
    assert torch.equal(gradients[2], torch.zeros(3, 2))


def test_gramian_is_jacobian_times_its_transpose_and_the_graph_survives():
    losses, parameters = losses_and_layer(custom=False)
    jacobian = task_jacobian(losses, parameters)
    assert jacobian.shape == (3, 4 * 3 + 4 + 2)
    assert torch.allclose(task_gramian(losses, parameters), jacobian @ jacobian.T, atol=1e-5)
    losses.sum().backward()
    assert parameters[0].grad is not None
