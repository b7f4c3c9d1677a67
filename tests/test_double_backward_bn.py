"""Batch norm from primitive ops (curvature graphs): same values, statistics and Hessians as ``F.batch_norm``."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F

import harness.curvature as curvature
from harness.curvature import EigenConfig, dominant_eigenvalue
from harness.double_backward_bn import batch_norm_primitive, primitive_batch_norm
from harness.optimizers import create_optimizer
from search_spaces import get_space


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training,stats", [(True, True), (True, False), (False, True)])  # eval needs running stats
def test_values_and_running_statistics_equal_f_batch_norm(training, affine, stats):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 5, 6, 6, generator=g, dtype=torch.float64)
    w, b = (torch.randn(5, generator=g, dtype=torch.float64) for _ in range(2)) if affine else (None, None)
    rs = ((torch.randn(5, generator=g, dtype=torch.float64), torch.rand(5, generator=g, dtype=torch.float64) + 0.5)
          if stats else (None, None))
    rs2 = tuple(None if t is None else t.clone() for t in rs)
    ref = F.batch_norm(x, *rs, w, b, training, 0.1, 1e-5)
    out = batch_norm_primitive(x, *rs2, w, b, training, 0.1, 1e-5)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for a, c in zip(rs, rs2):
        if a is not None:
            torch.testing.assert_close(c, a, rtol=1e-12, atol=1e-12)


def test_mode_reroutes_modules_and_functional_calls_only_inside():
    bn = torch.nn.BatchNorm2d(3, affine=False, track_running_stats=False)
    x = torch.randn(4, 3, 5, 5)
    calls = []
    real = batch_norm_primitive

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)

    import harness.double_backward_bn as m
    m.batch_norm_primitive, saved = spy, m.batch_norm_primitive
    try:
        with primitive_batch_norm():
            y = bn(x)
        bn(x)
    finally:
        m.batch_norm_primitive = saved
    assert len(calls) == 1
    torch.testing.assert_close(y, bn(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("space", ["s1", "nb201"])
def test_curvature_hessian_equals_the_native_batch_norm_one(space, monkeypatch):
    torch.manual_seed(0)
    sp = get_space(space)
    cfg = sp.default_config().with_overrides(channels=4, depth=3 if space == "s1" else 1, input_size=8,
                                             in_channels=3, num_classes=10)
    opt = create_optimizer("darts", sp, sp.build_supernet(cfg), epochs=1, steps_per_epoch=1, seed=0)
    g = torch.Generator().manual_seed(1)
    val = [(torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g))]
    ours = dominant_eigenvalue(opt, val, EigenConfig(method="exact", k=3))
    monkeypatch.setattr(curvature, "primitive_batch_norm", contextlib.nullcontext)
    native = dominant_eigenvalue(opt, val, EigenConfig(method="exact", k=3))
    assert ours.values == pytest.approx(native.values, rel=1e-4, abs=1e-6)
