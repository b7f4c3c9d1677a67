"""Dominant Hessian eigenvalue in architecture space: Lanczos / power vs the exact Hessian."""

from __future__ import annotations

import math

import pytest
import torch

from harness.metrics.curvature import EigenConfig, dominant_eigenvalue, dominant_eigenvalue_column
from harness.metrics.eigensolvers import lanczos, power_iteration
from harness.optimizers import create_optimizer
from search_spaces import get_space
from search_spaces.errors import ConfigError


def _tiny(space: str, optimizer: str = "darts", steps: int = 4, **net):
    torch.manual_seed(0)
    sp = get_space(space)
    in_ch = 1 if space == "s5" else 3
    cfg = sp.default_config().with_overrides(channels=4, depth=3, input_size=8, in_channels=in_ch, num_classes=10,
                                             **net)
    opt = create_optimizer(optimizer, sp, sp.build_supernet(cfg), {"arch_lr": 0.3} if optimizer == "darts" else {},
                           epochs=2, steps_per_epoch=steps, seed=0)
    opt.on_epoch_start(0)
    gen = torch.Generator().manual_seed(1)

    def batch():
        return torch.randn(8, in_ch, 8, 8, generator=gen), torch.randint(0, 10, (8,), generator=gen)

    for _ in range(steps):  # move away from the uniform initialisation
        opt.step(batch(), batch())
    return opt, [batch(), batch()]


def _sym(n: int, spectrum: torch.Tensor) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    return q @ torch.diag(spectrum) @ q.T


def test_lanczos_matches_eigh_on_a_known_spectrum():
    spec = torch.cat([torch.tensor([5.0, 3.0, 2.5]), torch.linspace(-4.0, 1.0, 57)]).double()
    a = _sym(60, spec)
    res = lanczos(lambda v: a @ v, 60, k=3, tol=1e-8, max_iter=60)
    assert res.values == pytest.approx([5.0, 3.0, 2.5], rel=1e-6)
    v = res.vectors[:, 0]
    assert torch.allclose(a @ v, 5.0 * v, atol=1e-5)
    # a warm start from the answer converges almost at once
    warm = lanczos(lambda v: a @ v, 60, k=1, tol=1e-6, v0=v)
    assert warm.values[0] == pytest.approx(5.0, rel=1e-6) and warm.hvps < res.hvps


def test_default_lanczos_within_one_percent_on_real_robustdarts_hessians(shared_data):
    """Every Hessian logged by the RobustDARTS S1 searches, from two fixed random starts and warm-started
    along each search (``python -m harness.analysis.lanczos_check`` gives the statistics over more starts)."""
    from harness.analysis.lanczos_check import check, load_runs

    runs = load_runs(shared_data / "robustdarts")
    assert sum(map(len, runs)) >= 400
    cfg = EigenConfig()
    for warm in (False, True):
        r = check(runs, cfg.warm_guard if warm else cfg.guard, warm, seeds=2)
        assert r["misses"] == 0 and r["worst_error"] <= 1e-2, r
    # what the guard is for: with the plain residual rule a warm start after two
    # eigenvalues crossed ends on the second one
    assert check(runs, 0, warm=True)["worst_error"] > 0.1


def test_power_iteration_finds_largest_algebraic_when_a_negative_one_dominates():
    spec = torch.cat([torch.tensor([-6.0, 2.0]), torch.linspace(-1.0, 1.0, 18)]).double()
    a = _sym(20, spec)
    res = power_iteration(lambda v: a @ v, 20, tol=1e-10, max_iter=2000)
    assert res.values[0] == pytest.approx(2.0, rel=1e-3)


def test_iterative_methods_within_one_percent_of_the_exact_hessian():
    opt, val = _tiny("s5")
    exact = dominant_eigenvalue(opt, val, EigenConfig(method="exact", k=2, num_batches=2))
    n = sum(p.numel() for p in opt.arch_parameters().values())
    assert exact.hvps == n == 12
    lz = dominant_eigenvalue(opt, val, EigenConfig(k=2, num_batches=2))
    pw = dominant_eigenvalue(opt, val, EigenConfig(method="power", num_batches=2, tol=1e-5, max_iter=100))
    assert exact.dominant > 0
    assert lz.values == pytest.approx(exact.values, rel=1e-2)
    assert pw.dominant == pytest.approx(exact.dominant, rel=1e-2)
    # the Hessian uses only the requested batches
    one = dominant_eigenvalue(opt, val[:1], EigenConfig(method="exact"))
    assert one.dominant != pytest.approx(exact.dominant, rel=1e-6)


def test_column_warm_starts_and_is_nan_without_logits():
    opt, val = _tiny("s5")
    first = dominant_eigenvalue_column(opt, val)
    tracker = opt._curvature_tracker
    assert tracker.vector is not None and tracker.evaluations == 1
    again = dominant_eigenvalue_column(opt, val)
    assert again == pytest.approx(first, rel=1e-2)
    rs, rval = _tiny("s5", optimizer="rsws", steps=1)
    assert math.isnan(dominant_eigenvalue_column(rs, rval))


def test_evaluation_leaves_supernet_untouched():
    opt, val = _tiny("s1", steps=1, track_running_stats=True)
    opt.supernet.drop_path_prob = 0.3
    before = {k: b.clone() for k, b in opt.supernet.named_buffers()}
    alpha = {k: v.detach().clone() for k, v in opt.arch_parameters().items()}
    grads = {k: None if v.grad is None else v.grad.clone() for k, v in opt.arch_parameters().items()}
    dominant_eigenvalue(opt, val[:1], EigenConfig(max_iter=2))
    assert opt.supernet.drop_path_prob == 0.3
    assert all(torch.equal(before[k], b) for k, b in opt.supernet.named_buffers())
    assert all(torch.equal(alpha[k], v) for k, v in opt.arch_parameters().items())
    # autograd.grad never accumulates into .grad, so the optimizer's own gradients are kept
    assert all((grads[k] is None and v.grad is None) or torch.equal(grads[k], v.grad)
               for k, v in opt.arch_parameters().items())


def test_config_is_validated():
    with pytest.raises(ConfigError):
        EigenConfig(method="arnoldi")
    with pytest.raises(ConfigError):
        EigenConfig(method="power", k=2)
    with pytest.raises(ConfigError):
        EigenConfig(tol=0.0)


def test_cost_benchmark_runs_and_reports_steps():
    from harness.bench.curvature import benchmark

    r = benchmark("s1", "darts", channels=4, depth=3, input_size=8, batch_size=8, steps=1, evaluations=2,
                  steps_between=1, config=EigenConfig(max_iter=4))
    assert r["arch_params"] == 56 and 0 < r["cold_hvps"] <= 4 and r["step_seconds"] > 0
    assert r["cold_steps"] == pytest.approx(r["cold_seconds"] / r["step_seconds"])
