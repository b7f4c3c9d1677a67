"""NB-201 supernet: fused == eager, per-example weights, sparse ``active`` path, discrete net."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from search_spaces import SupernetConfig, get_space

NB201 = get_space("nb201")
TINY = SupernetConfig(channels=4, depth=1, num_classes=10)


def _net(track: bool = False, affine: bool = False):
    torch.manual_seed(0)
    return NB201.build_supernet(TINY.with_overrides(track_running_stats=track, affine=affine)).double()


@pytest.mark.parametrize("track,affine", [(False, False), (True, False), (True, True)])
def test_fused_equals_eager_values_and_gradients(track, affine):
    net = _net(track, affine)
    x = torch.randn(6, 3, 16, 16, dtype=torch.float64)
    w = torch.softmax(torch.randn(6, 5, dtype=torch.float64), -1).requires_grad_()
    outs = []
    for fused in (True, False):
        net.set_fused(fused)
        y = net(x, {"cell": w})
        outs.append((y, torch.autograd.grad(y.square().sum(), [w, *net.parameters()])))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-10, atol=1e-10)
    for a, b in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_per_example_weights_equal_looping_examples():
    net = _net(track=True).eval()  # eval + running stats: examples are independent
    x = torch.randn(5, 3, 16, 16, dtype=torch.float64)
    w = torch.softmax(torch.randn(5, 6, 5, dtype=torch.float64), -1)
    batched = net(x, {"cell": w})
    looped = torch.cat([net(x[i:i + 1], {"cell": w[i]}) for i in range(5)])
    torch.testing.assert_close(batched, looped, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("fused", [True, False])
def test_active_ops_equal_dense_one_hot(fused):
    net = _net()
    net.set_fused(fused)
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    rng = np.random.default_rng(1)
    for _ in range(5):
        a = NB201.sample(rng)
        w = NB201.one_hot(a)["cell"].double()
        torch.testing.assert_close(net(x, {"cell": w}, active={"cell": list(a.choices)}), net(x, {"cell": w}))


def test_output_shapes_and_input_adaptation():
    net = NB201.build_supernet(SupernetConfig(channels=4, depth=1, in_channels=1, input_size=8, num_classes=7))
    assert net(torch.randn(2, 1, 8, 8), NB201.zeros()).shape == (2, 7)


def test_discrete_network_runs_and_drops_none_edges():
    a = NB201.from_str("|none~0|+|skip_connect~0|none~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|")
    net = NB201.build_network(a, TINY)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    cell = net.layers[0]
    assert sorted(cell.edges.keys()) == ["1", "3", "5"]


def test_protocol_default_size():
    cfg = NB201.default_config()
    assert (cfg.channels, cfg.depth, cfg.affine, cfg.track_running_stats) == (16, 5, False, False)
    net = NB201.build_supernet(cfg)
    assert sum(isinstance(m, torch.nn.Module) and type(m).__name__ == "SearchCell" for m in net.modules()) == 15


def test_active_indices_are_the_one_hot_argmax():
    space = get_space("nb201")
    arch = space.from_index(1234)
    idx = space.active_indices(arch)
    hot = space.one_hot(arch)
    assert set(idx) == set(hot)
    for k, rows in idx.items():
        assert all(hot[k][r, c] == 1 for r, c in enumerate(rows))
