"""``search_spaces.fusion.pointwise_conv2d``: the fused paths' 1x1 convolution as a matrix product.

Values, first and second derivatives equal ``F.conv2d`` (float64) for NCHW and
channels-last inputs, groups, strides on even and odd sizes, with and without
bias; the output keeps the input's memory format; it works under ``vmap``
(batched seeds) and computes in bfloat16 under autocast as a convolution does.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from search_spaces.fusion import pointwise_conv2d

CASES = [(1, 1, True), (1, 2, False), (3, 1, False), (3, 2, True)]  # (groups, stride, bias)
FORMATS = [torch.contiguous_format, torch.channels_last]


def _inputs(groups: int, bias: bool, size: int, fmt: torch.memory_format, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 6, size, size + 1, generator=g, dtype=torch.float64).contiguous(memory_format=fmt)
    w = torch.randn(9, 6 // groups, 1, 1, generator=g, dtype=torch.float64)
    b = torch.randn(9, generator=g, dtype=torch.float64) if bias else None
    return [t.requires_grad_() if t is not None else None for t in (x, w, b)]


@pytest.mark.parametrize("fmt", FORMATS, ids=["nchw", "channels_last"])
@pytest.mark.parametrize("size", [6, 7])
@pytest.mark.parametrize("groups,stride,bias", CASES)
def test_values_and_gradients_equal_conv2d(groups: int, stride: int, bias: bool, size: int,
                                           fmt: torch.memory_format) -> None:
    x, w, b = _inputs(groups, bias, size, fmt)
    y = pointwise_conv2d(x, w, b, stride, groups)
    ref = F.conv2d(x, w, b, stride, groups=groups)
    assert_close(y, ref, rtol=1e-12, atol=1e-12)
    assert y.is_contiguous(memory_format=fmt)
    gy = torch.randn_like(ref)
    wrt = [t for t in (x, w, b) if t is not None]
    for got, want in zip(torch.autograd.grad(y, wrt, gy), torch.autograd.grad(ref, wrt, gy)):
        assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fmt", FORMATS, ids=["nchw", "channels_last"])
@pytest.mark.parametrize("groups,stride,bias", CASES)
def test_gradgradcheck(groups: int, stride: int, bias: bool, fmt: torch.memory_format) -> None:
    """Curvature differentiates the fused paths twice."""
    inputs = tuple(t for t in _inputs(groups, bias, 5, fmt) if t is not None)

    def f(x, w, *b):
        return pointwise_conv2d(x, w, b[0] if b else None, stride, groups)

    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


def test_vmap_over_stacked_weights() -> None:
    g = torch.Generator().manual_seed(0)
    ws = torch.randn(3, 8, 2, 1, 1, generator=g)
    xs = torch.randn(3, 2, 4, 5, 5, generator=g)
    out = torch.func.vmap(lambda w, x: pointwise_conv2d(x, w, None, 2, 2))(ws, xs)
    grads = torch.func.vmap(torch.func.grad(lambda w, x: pointwise_conv2d(x, w, None, 2, 2).square().sum()))(ws, xs)
    for i in range(3):
        w = ws[i].clone().requires_grad_()
        ref = F.conv2d(xs[i], w, None, 2, groups=2)
        assert_close(out[i], ref)
        ref.square().sum().backward()
        assert_close(grads[i], w.grad)


@pytest.mark.parametrize("fmt", FORMATS, ids=["nchw", "channels_last"])
def test_bf16_autocast_like_a_convolution(fmt: torch.memory_format) -> None:
    x, w, b = (t.float() for t in _inputs(1, True, 6, fmt))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, ref = pointwise_conv2d(x, w, b), F.conv2d(x, w, b)
    assert y.dtype == ref.dtype == torch.bfloat16
    assert_close(y.float(), ref.float(), rtol=2e-2, atol=2e-2)
