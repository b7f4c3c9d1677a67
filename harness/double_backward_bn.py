"""Batch norm as primitive ops while a curvature graph is built.

A Hessian-vector product differentiates the backward pass once more.
PyTorch's fused batch-norm backward has a dedicated double backward that
runs a long chain of full-size element-wise products and reductions.
Written as ``var_mean``, subtraction, ``rsqrt`` and products, autograd's
double backward is cheaper; building the graph costs more, once per
evaluation (``python -m harness.curvature --space s3 --compare-batch-norm``
times both). The values are the same batch norm (tested).

``primitive_batch_norm()`` is a ``TorchFunctionMode``: within it every
``F.batch_norm`` call (``nn.BatchNorm2d`` modules and the fused supernet
paths alike) is computed by ``batch_norm_primitive``. Only the forward pass
that builds the graph runs inside it; the products themselves run in the
autograd engine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


def batch_norm_primitive(x: torch.Tensor, running_mean: torch.Tensor | None, running_var: torch.Tensor | None,
                         weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                         training: bool = False, momentum: float | None = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """``F.batch_norm`` (``x [B, C, ...]``, statistics over every dim but 1) from primitive ops.

    Updates the running statistics in training mode as ``F.batch_norm`` does
    (unbiased variance, momentum ``momentum``; ``None`` momentum = cumulative
    average is not supported here).
    """
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    if training or running_mean is None:
        var, mean = torch.var_mean(x, dims, keepdim=True, correction=0)
        if training and running_mean is not None:
            if momentum is None:
                raise NotImplementedError("cumulative moving average (momentum=None)")
            n = x.numel() // x.shape[1]
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(mean.reshape(-1), alpha=momentum)
                running_var.mul_(1 - momentum).add_(var.reshape(-1) * (n / max(n - 1, 1)), alpha=momentum)
    else:
        mean, var = running_mean.view(shape), running_var.view(shape)
    y = (x - mean) * torch.rsqrt(var + eps)
    if weight is not None:
        y = y * weight.view(shape)
    if bias is not None:
        y = y + bias.view(shape)
    return y


class primitive_batch_norm(TorchFunctionMode):  # noqa: N801 (used like a function: ``with primitive_batch_norm():``)
    """Context in which ``F.batch_norm`` is ``batch_norm_primitive`` (see the module docstring)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.batch_norm:
            return batch_norm_primitive(*args, **kwargs)
        return func(*args, **kwargs)
