"""Depthwise convolution whose double backward is as cheap as its backward.

PyTorch's double backward of a grouped convolution (``convolution_backward``
differentiated again) runs one small convolution per channel group, so for a
depthwise conv (groups = channels) a Hessian-vector product through a DARTS
``sep_conv`` costs one kernel call per channel: on S3 at protocol size it
made the curvature product about 1.7 times as expensive (12 against 7 CPU
seconds, ``python -m harness.metrics.curvature --space s3``). Here the input
gradient is written as a transposed convolution, which autograd differentiates
with one ordinary (grouped) convolution; the values are identical.

First-order backward (no ``create_graph``) uses the fused
``convolution_backward`` kernel, exactly as ``nn.Conv2d`` does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.autograd_function import PositionalFunction

_Pair = tuple[int, int]


class _DepthwiseConv(PositionalFunction):
    generate_vmap_rule = True  # the batched seeds vmap over DARTS-cell supernets

    @staticmethod
    def forward(x: torch.Tensor, w: torch.Tensor, stride: _Pair, padding: _Pair, dilation: _Pair,
                groups: int) -> torch.Tensor:
        return F.conv2d(x, w, None, stride, padding, dilation, groups)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        x, w, stride, padding, dilation, groups = inputs
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Any, gy: torch.Tensor) -> tuple:
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not torch.is_grad_enabled():
            gx, gw, _ = torch.ops.aten.convolution_backward(
                gy, x, w, None, list(stride), list(padding), list(dilation), False, [0, 0], groups,
                [need_x, need_w, False])
            return gx, gw, None, None, None, None
        gx = gw = None
        if need_x:
            # output_padding recovers the input size that strided conv rounds away
            out = [(gy.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (w.shape[2 + i] - 1) + 1
                   for i in range(2)]
            extra = tuple(x.shape[2 + i] - out[i] for i in range(2))
            gx = F.conv_transpose2d(gy, w, None, stride, padding, extra, groups, dilation)
        if need_w:  # differentiating this again takes PyTorch's per-channel path; curvature does not
            gw = torch.nn.grad.conv2d_weight(x, w.shape, gy, stride, padding, dilation, groups)
        return gx, gw, None, None, None, None


def _apply(x: torch.Tensor, w: torch.Tensor, stride: _Pair, padding: _Pair, dilation: _Pair,
           groups: int) -> torch.Tensor:
    """``_DepthwiseConv`` under autocast as autocast runs a convolution: inputs cast to the autocast
    dtype first (its backward runs outside autocast, so saved tensors and gradients must agree)."""
    dev = x.device.type
    if torch.is_autocast_enabled(dev):
        dt = torch.get_autocast_dtype(dev)
        with torch.autocast(dev, enabled=False):
            return _DepthwiseConv.apply(x.to(dt), w.to(dt), stride, padding, dilation, groups)
    return _DepthwiseConv.apply(x, w, stride, padding, dilation, groups)


class DepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(c, c, k, stride, padding, dilation, groups=c, bias=False)``, same parameters and init.

    ``[B, C, H, W] -> [B, C, H', W']``; only the double-backward path differs (see the module docstring).
    """

    def __init__(self, channels: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> None:
        super().__init__(channels, channels, kernel, stride, padding, dilation=dilation, groups=channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _apply(x, self.weight, self.stride, self.padding, self.dilation, self.groups)


def depthwise_conv2d(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: int = 1,
                     dilation: int = 1) -> torch.Tensor:
    """Functional depthwise conv (``w [C * m, 1, k, k]``, channel multiplier ``m``) with the cheap double backward."""
    return _apply(x, w, (stride, stride), (padding, padding), (dilation, dilation), x.shape[-3])


_POOL_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def _box_and_count(c: int, h: int, w: int, stride: int, device: torch.device,
                   dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Box kernel ``[c, 1, 3, 3]``, in-image counts ``[1, 1, H', W']`` and their reciprocals ``[H', W']``."""
    key = (c, h, w, stride, device, dtype)
    if key not in _POOL_CACHE:
        box = torch.ones(c, 1, 3, 3, device=device, dtype=dtype)
        count = F.avg_pool2d(torch.ones(1, 1, h, w, device=device, dtype=dtype), 3, stride, 1, divisor_override=1)
        _POOL_CACHE[key] = (box, count, count.reciprocal().view(count.shape[-2:]))
    return _POOL_CACHE[key]


def avg_pool_3x3_factored(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``avg_pool_3x3(x)`` (stride 1) as ``(sums, scale)`` with ``avg_pool_3x3(x) = sums * scale``.

    On the CPU ``sums`` are the 3x3 box sums ``[..., C, H, W]`` and ``scale`` is ``[H, W]``, the reciprocal
    of each position's count of in-image pixels, for a caller that folds it into a coefficient it
    multiplies by anyway (saving the division's pass over the output and its backward); elsewhere
    ``sums`` is the pooled tensor and ``scale`` None.
    """
    if x.device.type != "cpu":
        return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), None
    box, _, inv_count = _box_and_count(*x.shape[-3:], 1, x.device, x.dtype)
    return depthwise_conv2d(x, box, 1, 1), inv_count


def avg_pool_3x3(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """3x3 average pool, padding 1, padding excluded from the count: ``[..., C, H, W] -> [..., C, H', W']``.

    Equals ``F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)``. On the
    CPU that kernel is slower than a depthwise conv of the same shape
    (``harness bench``'s ``kernels`` row times both), so there the pool is a
    box-sum depthwise conv divided by each position's count of in-image
    pixels; elsewhere the native kernel is used.
    """
    if x.device.type != "cpu":
        return F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)
    box, count, _ = _box_and_count(*x.shape[-3:], stride, x.device, x.dtype)
    return depthwise_conv2d(x, box, stride, 1) / count
