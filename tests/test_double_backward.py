"""Batch norm and ReLU forms of curvature graphs: same values, statistics, gradients and Hessians as PyTorch's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import harness.metrics.double_backward as db
from harness.metrics.curvature import GRAPH_OPS, EigenConfig, dominant_eigenvalue
from harness.metrics.double_backward import (batch_norm_double_backward, batch_norm_primitive, cheap_double_backward,
                                             relu_double_backward)
from harness.optimizers import create_optimizer
from search_spaces import get_space

FORMS = [batch_norm_primitive, batch_norm_double_backward]


def _inputs(affine: bool, bias: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    w = (torch.rand(3, generator=g, dtype=torch.float64) + 0.5).requires_grad_() if affine else None
    b = torch.randn(3, generator=g, dtype=torch.float64).requires_grad_() if bias else None
    return x, w, b


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training,stats", [(True, True), (True, False), (False, True)])  # eval needs running stats
def test_values_and_running_statistics_equal_f_batch_norm(form, training, affine, stats):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 5, 6, 6, generator=g, dtype=torch.float64)
    w, b = (torch.randn(5, generator=g, dtype=torch.float64) for _ in range(2)) if affine else (None, None)
    rs = ((torch.randn(5, generator=g, dtype=torch.float64), torch.rand(5, generator=g, dtype=torch.float64) + 0.5)
          if stats else (None, None))
    rs2 = tuple(None if t is None else t.clone() for t in rs)
    ref = F.batch_norm(x, *rs, w, b, training, 0.1, 1e-5)
    out = form(x, *rs2, w, b, training, 0.1, 1e-5)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for a, c in zip(rs, rs2):
        if a is not None:
            torch.testing.assert_close(c, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("affine,bias", [(False, False), (True, False), (False, True), (True, True)])
def test_closed_form_gradients_and_hessian_products_equal_autograd_on_primitives(affine, bias):
    """First derivatives and Hessian-vector products of a non-linear loss of BN, w.r.t. x, weight, bias."""
    results = []
    for form in FORMS:
        x, w, b = _inputs(affine, bias)
        ins = [t for t in (x, w, b) if t is not None]
        c = torch.randn(6, 3, 4, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        loss = (torch.tanh(form(x, None, None, w, b, True, 0.1, 1e-5)) * c).sum()
        grads = torch.autograd.grad(loss, ins, create_graph=True)
        gen = torch.Generator().manual_seed(2)
        vs = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in ins]
        hv = torch.autograd.grad(sum((g * v).sum() for g, v in zip(grads, vs)), ins)
        results.append([*grads, *hv])
    for ours, ref in zip(results[1], results[0]):
        torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)


def test_closed_form_passes_gradcheck_and_gradgradcheck():
    x, w, b = _inputs(True, True)

    def f(x, w, b):
        return batch_norm_double_backward(x, None, None, w, b, True, 0.1, 1e-5)

    assert torch.autograd.gradcheck(f, (x, w, b))
    assert torch.autograd.gradgradcheck(f, (x, w, b))


def test_closed_form_second_derivative_with_only_some_first_derivatives_used():
    """Hessian products through the weight gradient alone (the x-gradient unused) and vice versa."""
    for pick in (0, 1):
        out = []
        for form in FORMS:
            x, w, _ = _inputs(True, False, seed=3)
            loss = (form(x, None, None, w, None, True, 0.1, 1e-5) ** 3).sum()
            g = torch.autograd.grad(loss, (x, w), create_graph=True)[pick]
            out.append(torch.autograd.grad(g.sum(), (x, w), allow_unused=True))
        for ours, ref in zip(*reversed(out)):
            torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)


def test_in_place_change_of_the_output_is_caught():
    x, _, _ = _inputs(False, False)
    y = batch_norm_double_backward(x, None, None, None, None, True, 0.1, 1e-5)
    y.mul_(2.0)  # y is the saved normalised input
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_relu_values_and_derivatives():
    x = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(relu_double_backward(x), F.relu(x), rtol=0, atol=0)
    assert torch.autograd.gradcheck(relu_double_backward, (x,))
    assert torch.autograd.gradgradcheck(relu_double_backward, (x,))


def test_mode_reroutes_modules_and_functional_calls_only_inside(monkeypatch):
    bn = torch.nn.BatchNorm2d(3, affine=False, track_running_stats=False)
    x = torch.randn(4, 3, 5, 5)
    calls = []
    for name in ("batch_norm_double_backward", "relu_double_backward"):
        real = getattr(db, name)
        monkeypatch.setattr(db, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k))
    monkeypatch.setitem(db.BATCH_NORM_FORMS, "closed-form", db.batch_norm_double_backward)
    with cheap_double_backward():
        y = torch.nn.ReLU()(bn(x))
        F.relu(x.clone(), inplace=True)  # in place: left to PyTorch
    F.relu(bn(x))
    assert calls == ["batch_norm_double_backward", "relu_double_backward"]
    torch.testing.assert_close(y, F.relu(bn(x)), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="batch_norm must be one of"):
        cheap_double_backward("fused")


@pytest.mark.parametrize("space", ["s1", "s3", "nb201"])
def test_curvature_hessian_is_the_same_for_every_graph_form(space):
    torch.manual_seed(0)
    sp = get_space(space)
    cfg = sp.default_config().with_overrides(channels=4, depth=3 if space != "nb201" else 1, input_size=8,
                                             in_channels=3, num_classes=10)
    opt = create_optimizer("darts", sp, sp.build_supernet(cfg), epochs=1, steps_per_epoch=1, seed=0)
    g = torch.Generator().manual_seed(1)
    val = [(torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g))]
    values = {ops: dominant_eigenvalue(opt, val, EigenConfig(method="exact", k=3), graph_ops=ops).values
              for ops in GRAPH_OPS}
    for ops, vals in values.items():
        assert vals == pytest.approx(values["pytorch"], rel=1e-4, abs=1e-6), ops


def test_compare_graph_ops_rows_agree_with_pytorch_and_float64():
    from harness.bench.curvature import compare_graph_ops

    rows = compare_graph_ops("s1", channels=4, depth=3, batch_size=4, repeats=1, products=1)
    assert [r["graph_ops"] for r in rows] == list(reversed(GRAPH_OPS))
    assert rows[0]["difference"] == 0.0
    for r in rows:
        assert r["graph_seconds"] > 0 and r["product_seconds"] > 0
        assert r["difference"] < 1e-4 and r["from_float64"] < 1e-4, r
