"""Zero-cost proxies against hand computations on 2-layer networks; reproducibility; NB-201 SynFlow range."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.metrics import proxies
from search_spaces import SupernetConfig, get_space
from search_spaces.errors import ConfigError

S5 = get_space("s5")
TINY = SupernetConfig(channels=4, depth=3, in_channels=1, input_size=8, num_classes=3)


def _mlp(bn: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    norm = [nn.BatchNorm1d(4)] if bn else []
    layers = [nn.Linear(3, 4, bias=False), *norm, nn.ReLU(), nn.Linear(4, 2, bias=False)]
    return nn.Sequential(*layers).double()


def _data(n=5):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, generator=g, dtype=torch.float64), torch.randint(0, 2, (n,), generator=g)


def test_snip_matches_manual_backprop():
    net, (x, y) = _mlp(), _data()
    w1, w2 = net[0].weight.detach(), net[2].weight.detach()
    # forward / backward of mean cross-entropy by hand
    pre = x @ w1.T
    h = pre.clamp_min(0)
    z = h @ w2.T
    p = torch.softmax(z, -1)
    dz = (p - F.one_hot(y, 2).double()) / len(y)
    dw2 = dz.T @ h
    dw1 = ((dz @ w2) * (pre > 0)).T @ x
    want = float((w1 * dw1).abs().sum() + (w2 * dw2).abs().sum())
    assert proxies.snip(net, (x, y)) == pytest.approx(want, rel=1e-12)


def test_grasp_matches_the_hessian_by_hand():
    # f(x) = w2 * w1 * x, L = mean 0.5 (f - y)^2: gradient and Hessian in closed form
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)).double()
    with torch.no_grad():
        net[0].weight.fill_(0.7)
        net[1].weight.fill_(-1.3)
    x = torch.tensor([[0.5], [-1.0], [2.0]], dtype=torch.float64)
    y = torch.tensor([[1.0], [0.2], [-0.4]], dtype=torch.float64)
    w1, w2 = 0.7, -1.3
    xs, ys = x.flatten().tolist(), y.flatten().tolist()
    n = len(xs)
    r = [w2 * w1 * a - b for a, b in zip(xs, ys)]
    g1 = sum(ri * w2 * a for ri, a in zip(r, xs)) / n
    g2 = sum(ri * w1 * a for ri, a in zip(r, xs)) / n
    h11 = sum((w2 * a) ** 2 for a in xs) / n
    h22 = sum((w1 * a) ** 2 for a in xs) / n
    h12 = sum(w1 * w2 * a * a + ri * a for ri, a in zip(r, xs)) / n
    want = -(w1 * (h11 * g1 + h12 * g2) + w2 * (h12 * g1 + h22 * g2))
    mse = lambda out, t: 0.5 * ((out - t) ** 2).mean()  # noqa: E731
    assert proxies.grasp(net, (x, y), loss_fn=mse) == pytest.approx(want, rel=1e-12)


def test_synflow_matches_hand_computation_and_ignores_bn_and_signs():
    net = _mlp(bn=True)
    with torch.no_grad():
        net[0].weight[0, 0] = -2.0  # a negative weight: SynFlow uses |theta|
    a1, a2 = net[0].weight.detach().abs(), net[3].weight.detach().abs()
    ones_in, ones_out = torch.ones(3, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    r = float(ones_out @ a2 @ a1 @ ones_in)
    # theta o dR/dtheta per layer: |W1| o (|W2|^T 1) 1^T and |W2| o 1 (|W1| 1)^T; each layer sums to R
    layer1 = (a1 * torch.outer(a2.T @ ones_out, ones_in)).sum()
    layer2 = (a2 * torch.outer(ones_out, a1 @ ones_in)).sum()
    assert float(layer1) == pytest.approx(r) and float(layer2) == pytest.approx(r)
    assert proxies.synflow(net, (3,)) == pytest.approx(2 * r, rel=1e-12)
    # the network itself is untouched: signs, BN and dtype
    assert float(net[0].weight[0, 0].detach()) == -2.0 and isinstance(net[1], nn.BatchNorm1d)
    assert net[0].weight.dtype == torch.float64


def test_compute_proxy_dispatch_and_errors():
    net, batch = _mlp(), _data()
    assert proxies.compute_proxy("snip", net, batch) == proxies.snip(net, batch)
    assert proxies.compute_proxy("synflow", net, batch) == proxies.synflow(net, (3,))
    with pytest.raises(ConfigError):
        proxies.compute_proxy("jacov", net, batch)
    with pytest.raises(ConfigError):
        proxies.compute_proxy("grasp", net, None)


def _img_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 3, (8,), generator=g)


@pytest.mark.parametrize("proxy", proxies.PROXIES)
def test_architecture_scores_are_reproducible(proxy):
    arch = S5.from_index(50)
    s1 = proxies.score_architecture(S5, arch, proxy, _img_batch(), TINY, seed=0)
    state = torch.get_rng_state()
    s2 = proxies.score_architecture(S5, arch, proxy, _img_batch(), TINY, seed=0)
    assert s1 == s2 and np.isfinite(s1)
    assert torch.equal(state, torch.get_rng_state())  # the fixed-seed build leaves the global RNG alone
    assert proxies.score_architecture(S5, arch, proxy, _img_batch(), TINY, seed=1) != s1


def test_proxy_search_baseline_picks_the_best_sample():
    res = proxies.proxy_search(S5, "synflow", 6, None, TINY, seed=3)
    again = proxies.proxy_search(S5, "synflow", 6, None, TINY, seed=3)
    assert res.best == again.best and np.array_equal(res.scores, again.scores)
    assert len(res.archs) == 6 and res.best == res.archs[int(np.argmax(res.scores))]
    assert proxies.pick_best(res.archs, np.array([np.nan, 1, 3, 3, -1, 0.0])) == res.archs[2]


def test_spearman():
    assert proxies.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert proxies.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties get average ranks: ranks (1.5, 1.5, 3) vs (1, 2, 3) -> 0.866
    assert proxies.spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(np.sqrt(3) / 2)
    with pytest.raises(ValueError):
        proxies.spearman([1, 2], [1, 2, 3])


def test_synflow_does_not_overflow_on_full_size_nb201():
    space = get_space("nb201")
    cfg = space.default_config()  # C=16, N=5
    assert (cfg.channels, cfg.depth) == (16, 5)
    arch = space.from_str("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
                          "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    score = proxies.score_architecture(space, arch, "synflow", None, cfg, seed=0)
    assert np.isfinite(score) and score > 0
    # in float32 this network's score would not be representable
    assert score > torch.finfo(torch.float32).max
