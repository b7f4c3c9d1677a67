"""search_spaces.batch_norm: equals F.batch_norm (batch statistics) in value, gradients, second
derivatives and under vmap, and steps aside where it must."""

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.testing import assert_close

import search_spaces.batch_norm as bn_module
from search_spaces.batch_norm import batch_norm_batch_stats


@pytest.fixture(autouse=True)
def _every_size(monkeypatch):
    """The row statistics for the small tensors of these tests too (the size floor has its own test)."""
    monkeypatch.setattr(bn_module, "MIN_CHANNEL_ELEMENTS", 0)


def _reference(x, w, b, eps=1e-5):
    return F.batch_norm(x, None, None, w, b, True, 0.0, eps)


def _params(c: int, affine: str, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    w = torch.rand(c, generator=g, dtype=dtype) + 0.5 if affine in ("w", "wb") else None
    b = torch.randn(c, generator=g, dtype=dtype) if affine == "wb" else None
    return w, b


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (8, 6, 4, 7), (2, 1, 3, 3), (32, 24, 8, 8)])
@pytest.mark.parametrize("affine", ["none", "w", "wb"])
def test_values_and_gradients_equal_f_batch_norm(shape, affine):
    torch.manual_seed(0)
    x = (torch.randn(shape, dtype=torch.float64) * 3 + 2).requires_grad_()
    w, b = _params(shape[1], affine)
    leaves = [x] + [t.requires_grad_() for t in (w, b) if t is not None]
    y, y_ref = batch_norm_batch_stats(x, w, b), _reference(x, w, b)
    assert y.grad_fn is not None and "BatchStatsNorm" in type(y.grad_fn).__name__  # the fast path ran
    assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    gy = torch.randn_like(y)
    assert_close(torch.autograd.grad(y, leaves, gy), torch.autograd.grad(y_ref, leaves, gy), rtol=1e-10, atol=1e-10)


def test_float32_with_a_large_mean_keeps_precision():
    """Two-pass variance: a mean 1000x the spread must not cancel the variance away."""
    torch.manual_seed(0)
    x64 = torch.randn(16, 4, 8, 8, dtype=torch.float64) * 0.5 + 500.0
    y = batch_norm_batch_stats(x64.float())
    assert_close(y.double(), _reference(x64, None, None), rtol=0, atol=2e-3)
    assert_close(y, _reference(x64.float(), None, None), rtol=0, atol=2e-3)


@pytest.mark.parametrize("affine", ["none", "wb"])
def test_hessian_vector_product_equals_f_batch_norm(affine):
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    s = torch.rand(3, dtype=torch.float64, requires_grad=True)
    v = torch.randn(3, dtype=torch.float64)
    w, b = _params(3, affine)

    def hvp(bn):
        loss = F.softplus(bn(torch.tanh(x * s[None, :, None, None]), w, b)).pow(3).sum()
        g, = torch.autograd.grad(loss, s, create_graph=True)
        return torch.autograd.grad(g, s, v)[0]

    assert_close(hvp(batch_norm_batch_stats), hvp(_reference), rtol=1e-9, atol=1e-10)


def test_gradgradcheck():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    w = (torch.rand(2, dtype=torch.float64) + 0.5).requires_grad_()
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    f = lambda x, w, b: batch_norm_batch_stats(x, w, b)
    assert torch.autograd.gradcheck(f, (x, w, b))
    assert torch.autograd.gradgradcheck(f, (x, w, b))


def test_vmap_and_grad_over_stacked_inputs():
    torch.manual_seed(0)
    xs = torch.randn(3, 4, 5, 6, 6, dtype=torch.float64)
    ws = torch.rand(3, 5, dtype=torch.float64) + 0.5
    ours = lambda x, w: (batch_norm_batch_stats(x, w) ** 3).sum()
    ref = lambda x, w: (_reference(x, w, None) ** 3).sum()
    assert_close(torch.vmap(batch_norm_batch_stats)(xs, ws), torch.vmap(lambda x, w: _reference(x, w, None))(xs, ws))
    grad = lambda f: torch.vmap(torch.func.grad(f, argnums=(0, 1)))(xs, ws)
    assert_close(grad(ours), grad(ref), rtol=1e-10, atol=1e-10)


class _Recorder(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls.append(func)
        return func(*args, **(kwargs or {}))


def test_steps_aside_for_torch_function_modes():
    """harness.metrics.double_backward replaces F.batch_norm through a TorchFunctionMode while a curvature
    graph is built; under any such mode the call must reach F.batch_norm."""
    x = torch.randn(4, 3, 5, 5)
    with _Recorder() as rec:
        y = batch_norm_batch_stats(x)
    assert F.batch_norm in rec.calls
    assert_close(y, _reference(x, None, None))


@pytest.mark.parametrize("case", ["channels_last", "bf16", "3d"])
def test_falls_back_to_f_batch_norm(case):
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    if case == "channels_last":
        x = x.detach().to(memory_format=torch.channels_last).requires_grad_()
    elif case == "bf16":
        x = x.detach().bfloat16().requires_grad_()
    else:
        x = torch.randn(4, 3, 25, requires_grad=True)
    y = batch_norm_batch_stats(x)
    assert "BatchStatsNorm" not in type(y.grad_fn).__name__
    assert_close(y, _reference(x, None, None))


def test_channels_below_the_size_floor_take_f_batch_norm(monkeypatch):
    monkeypatch.setattr(bn_module, "MIN_CHANNEL_ELEMENTS", 4 * 5 * 5 + 1)
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    assert "BatchStatsNorm" not in type(batch_norm_batch_stats(x).grad_fn).__name__
    monkeypatch.setattr(bn_module, "MIN_CHANNEL_ELEMENTS", 4 * 5 * 5)
    assert "BatchStatsNorm" in type(batch_norm_batch_stats(x).grad_fn).__name__
