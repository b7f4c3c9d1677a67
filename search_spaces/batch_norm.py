"""Batch norm with batch statistics for NCHW tensors on the CPU, faster than PyTorch's CPU kernel.

The search cells' BN (no running statistics, so batch statistics always) runs on every op
output. PyTorch's CPU forward for NCHW tensors reduces channel by channel over the batch and
spatial dims, slowly at the supernets' small shapes (``harness bench``'s ``kernels`` row, forward
+ backward of NB-201's first-stage three-edge BN, batch 32 x 24 x 32 x 32 on this project's
CPU, the six quick runs in docs/performance.md: native 1.54-2.10 ms, this 1.01-1.50 ms). Here the statistics
come from contiguous row reductions (per sample and channel, then over the batch) in two passes
as PyTorch's (mean, then the centred sum of squares), and the normalisation scales the centred
copy in place. The backward is PyTorch's own ``native_batch_norm_backward`` (which autograd
differentiates again, so Hessian-vector products work).

``batch_norm_batch_stats`` falls back to ``F.batch_norm`` for channels with fewer than
``MIN_CHANNEL_ELEMENTS`` elements (there its extra op calls cost more than the native
reduction loses; NB-201's last stage at the quick bench's batch of 32), off the CPU, for
channels-last or low-precision input, under autocast, and whenever a ``TorchFunctionMode``
or tensor subclass overrides torch functions (``harness.metrics.double_backward`` replaces
``F.batch_norm`` that way while it builds a curvature graph).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import has_torch_function_variadic

from search_spaces.autograd_function import PositionalFunction


class _BatchStatsNorm(PositionalFunction):
    """``(y, mean, invstd)`` of training-mode BN; ``x [B, C, H, W]``, ``weight`` / ``bias [C]`` or None."""

    generate_vmap_rule = True  # the batched seeds vmap over the supernets

    @staticmethod
    def forward(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, c = x.shape[:2]
        rows = x.reshape(b, c, -1)
        n = b * rows.shape[2]
        mean = rows.sum(-1).sum(0) / n
        centred = rows - mean.view(c, 1)
        var = torch.linalg.vector_norm(centred, dim=-1).square().sum(0) / n
        invstd = (var + eps).rsqrt()
        scale = invstd if weight is None else invstd * weight
        y = centred.mul_(scale.view(c, 1)) if bias is None else centred.mul_(scale.view(c, 1)).add_(bias.view(c, 1))
        return y.view(x.shape), mean, invstd

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        x, weight, bias, eps = inputs
        _, mean, invstd = output
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps, ctx.has_bias = eps, bias is not None
        ctx.mark_non_differentiable(mean, invstd)

    @staticmethod
    def backward(ctx: Any, gy: torch.Tensor, _g_mean: Any, _g_invstd: Any) -> tuple:
        x, weight, mean, invstd = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx, gw, gb = torch.ops.aten.native_batch_norm_backward(
            gy, x, weight, None, None, mean, invstd, True, ctx.eps,
            [need[0], need[1] and weight is not None, need[2] and ctx.has_bias])
        return gx, gw, gb, None


#: Elements per channel (batch x height x width) from which the row statistics are used; a tuning
#: constant from paired step timings on this project's 2-core CPU (4096 against 0 and 16384).
MIN_CHANNEL_ELEMENTS = 4096


def _fast_path(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None) -> bool:
    return (x.device.type == "cpu" and x.dim() == 4 and x.dtype in (torch.float32, torch.float64)
            and x.shape[0] * x.shape[2] * x.shape[3] >= MIN_CHANNEL_ELEMENTS
            and x.is_contiguous() and not torch.is_autocast_enabled("cpu")
            and not has_torch_function_variadic(x, weight, bias))


def batch_norm_batch_stats(x: torch.Tensor, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                           eps: float = 1e-5) -> torch.Tensor:
    """``F.batch_norm(x, None, None, weight, bias, True, 0.0, eps)``: ``[B, C, H, W] -> [B, C, H, W]``."""
    if _fast_path(x, weight, bias):
        return _BatchStatsNorm.apply(x, weight, bias, eps)[0]
    return F.batch_norm(x, None, None, weight, bias, True, 0.0, eps)
