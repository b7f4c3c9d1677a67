"""DepthwiseConv2d equals nn.Conv2d(groups=C) in value, gradient, Hessian-vector product and under vmap."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from search_spaces.depthwise import DepthwiseConv2d

CASES = [(3, 1, 1, 1), (5, 1, 2, 1), (3, 2, 2, 2), (5, 2, 4, 2), (3, 2, 1, 1), (5, 2, 2, 1), (3, 1, 2, 2)]


def _pair(c: int, k: int, s: int, p: int, d: int) -> tuple[nn.Conv2d, DepthwiseConv2d]:
    torch.manual_seed(0)
    ref = nn.Conv2d(c, c, k, s, p, dilation=d, groups=c, bias=False)
    torch.manual_seed(0)
    ours = DepthwiseConv2d(c, k, s, p, d)
    return ref, ours


@pytest.mark.parametrize("k,s,p,d", CASES)
@pytest.mark.parametrize("size", [8, 9])
def test_values_and_gradients(k: int, s: int, p: int, d: int, size: int) -> None:
    ref, ours = _pair(4, k, s, p, d)
    assert_close(ours.weight, ref.weight, rtol=0, atol=0)  # same init, same parameter name
    assert list(dict(ours.named_parameters())) == list(dict(ref.named_parameters()))
    x = torch.randn(3, 4, size, size, dtype=torch.float64, requires_grad=True)
    ref, ours = ref.double(), ours.double()
    y_ref, y = ref(x), ours(x)
    assert_close(y, y_ref, rtol=0, atol=0)
    gy = torch.randn_like(y)
    g_ref = torch.autograd.grad(y_ref, (x, ref.weight), gy)
    g = torch.autograd.grad(y, (x, ours.weight), gy)
    for a, b in zip(g, g_ref):
        assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k,s,p,d", CASES)
def test_double_backward_matches(k: int, s: int, p: int, d: int) -> None:
    """The Hessian-vector product w.r.t. a channel scale before the conv (the curvature use)."""
    ref, ours = (m.double() for m in _pair(4, k, s, p, d))
    x = torch.randn(3, 4, 9, 9, dtype=torch.float64)
    scale = torch.rand(4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(4, dtype=torch.float64)

    def hvp(conv: nn.Module) -> torch.Tensor:
        loss = F.softplus(conv(torch.tanh(x * scale[None, :, None, None]))).pow(2).sum()
        g, = torch.autograd.grad(loss, scale, create_graph=True)
        return torch.autograd.grad(g, scale, v)[0]

    assert_close(hvp(ours), hvp(ref), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k,s,p,d", CASES[:4])
def test_gradgradcheck(k: int, s: int, p: int, d: int) -> None:
    conv = DepthwiseConv2d(2, k, s, p, d).double()
    f = lambda a, w: torch.func.functional_call(conv, {"weight": w}, (a,))
    inputs = (torch.randn(1, 2, 7, 7, dtype=torch.float64, requires_grad=True),
              conv.weight.detach().clone().requires_grad_())
    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


def test_vmap_over_stacked_weights() -> None:
    _, ours = _pair(4, 3, 2, 1, 1)
    ws = torch.randn(3, 4, 1, 3, 3)
    x = torch.randn(3, 2, 4, 8, 8)
    f = lambda w, a: torch.func.functional_call(ours, {"weight": w}, (a,))
    out = torch.func.vmap(f)(ws, x)
    for i in range(3):
        assert_close(out[i], F.conv2d(x[i], ws[i], None, 2, 1, 1, 4))
    gw = torch.func.vmap(torch.func.grad(lambda w, a: f(w, a).square().sum()))(ws, x)
    for i in range(3):
        w = ws[i].clone().requires_grad_()
        F.conv2d(x[i], w, None, 2, 1, 1, 4).square().sum().backward()
        assert_close(gw[i], w.grad)


def test_bf16_autocast_forward_and_backward_like_a_convolution():
    """Under autocast the custom conv computes in bfloat16 as ``nn.Conv2d`` does, and its backward runs."""
    from search_spaces.depthwise import avg_pool_3x3

    torch.manual_seed(0)
    conv, ref = DepthwiseConv2d(4, 3, 1, 1), torch.nn.Conv2d(4, 4, 3, 1, 1, groups=4, bias=False)
    ref.weight.data.copy_(conv.weight.data)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, y_ref = conv(x), ref(x)
        pooled = avg_pool_3x3(x)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    torch.testing.assert_close(y, y_ref)
    gx, gw = torch.autograd.grad((y.float() ** 2).sum() + pooled.float().sum(), [x, conv.weight])
    assert gx.dtype == x.dtype and gw.dtype == conv.weight.dtype


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [(7, 7), (8, 5)])
def test_box_sum_average_pool_equals_the_native_pool(stride, size):
    """The CPU pool (box-sum depthwise conv / in-image counts) is ``F.avg_pool2d(x, 3, s, 1, count_include_pad=False)``."""
    from search_spaces.depthwise import avg_pool_3x3

    x = torch.randn(2, 3, *size, dtype=torch.float64, requires_grad=True)
    ref = F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)
    out = avg_pool_3x3(x, stride)
    assert_close(out, ref, rtol=1e-12, atol=1e-12)
    gy = torch.randn_like(ref)
    assert_close(torch.autograd.grad(out, x, gy)[0], torch.autograd.grad(ref, x, gy)[0], rtol=1e-12, atol=1e-12)


def test_factored_pool_sums_times_scale_is_the_pool():
    """``avg_pool_3x3_factored``: box sums and reciprocal counts (``[H, W]``: 1/4 corners, 1/6 edges, 1/9 inside)."""
    from search_spaces.depthwise import avg_pool_3x3_factored

    x = torch.randn(2, 3, 6, 5, dtype=torch.float64, requires_grad=True)
    sums, scale = avg_pool_3x3_factored(x)
    assert scale.shape == (6, 5)
    assert_close(scale[0, 0].item(), 1 / 4)
    assert_close(scale[0, 2].item(), 1 / 6)
    assert_close(scale[2, 2].item(), 1 / 9)
    assert_close(sums[0, 0, 2, 2], x[0, 0, 1:4, 1:4].sum())
    assert_close(sums * scale, F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), rtol=1e-12, atol=1e-12)
