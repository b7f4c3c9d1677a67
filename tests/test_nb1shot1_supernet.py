"""NAS-Bench-1Shot1 supernet and discrete NB-101 network: shapes, weights contract, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from search_spaces import SupernetConfig, get_space

TINY = SupernetConfig(channels=4, depth=1, num_classes=5, input_size=8)


def _softmax_weights(space, batch: int | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for grp in space.param_groups:
        shape = grp.shape if batch is None else (batch, *grp.shape)
        out[grp.name] = torch.randn(shape, generator=g).softmax(-1)
    return out


@pytest.mark.parametrize("name", ["nb1shot1-s1", "nb1shot1-s2", "nb1shot1-s3"])
def test_supernet_shapes_shared_and_per_example(name):
    torch.manual_seed(0)
    space = get_space(name)
    net = space.build_supernet(TINY)
    x = torch.randn(3, 3, 8, 8)
    assert net(x, _softmax_weights(space)).shape == (3, 5)
    assert net(x, _softmax_weights(space, batch=3)).shape == (3, 5)


def test_per_example_weights_equal_shared_rows():
    space = get_space("nb1shot1-s2")
    # running statistics in eval mode make every example independent of the batch
    net = space.build_supernet(TINY.with_overrides(track_running_stats=True)).eval()
    x = torch.randn(2, 3, 8, 8)
    wa, wb = _softmax_weights(space, seed=1), _softmax_weights(space, seed=2)
    per = {k: torch.stack([wa[k], wb[k]]) for k in wa}
    with torch.no_grad():
        y = net(x, per)
        assert torch.allclose(y[0], net(x[:1], wa)[0], atol=1e-5)
        assert torch.allclose(y[1], net(x[1:], wb)[0], atol=1e-5)


def test_gradients_reach_architecture_weights():
    space = get_space("nb1shot1-s1")
    net = space.build_supernet(TINY)
    logits = {g.name: torch.zeros(g.shape, requires_grad=True) for g in space.param_groups}
    w = {k: v.softmax(-1) for k, v in logits.items()}
    net(torch.randn(4, 3, 8, 8), w).logsumexp(-1).sum().backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in logits.values())


def test_default_config_follows_1shot1_search():
    cfg = get_space("nb1shot1-s1").default_config()
    assert (cfg.channels, cfg.depth, cfg.num_classes) == (16, 3, 10)


@pytest.mark.parametrize("name", ["nb1shot1-s1", "nb1shot1-s3"])
def test_discrete_network_forward(name):
    space = get_space(name)
    rng = np.random.default_rng(0)
    for _ in range(3):
        net = space.build_network(space.sample(rng), TINY)
        assert net(torch.randn(2, 3, 8, 8)).shape == (2, 5)


def test_vertex_channels_rule():
    from search_spaces.nb101.network import vertex_channels

    m = np.zeros((5, 5), dtype=int)
    m[0, 1] = m[1, 2] = m[1, 3] = m[2, 4] = m[3, 4] = m[0, 4] = 1
    assert vertex_channels(8, 9, m) == [8, 5, 5, 4, 9]
