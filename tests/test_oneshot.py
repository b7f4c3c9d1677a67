"""Bender et al. one-shot training: dropout schedule, keep-one-path rule, ghost BN, active-path L2."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from harness.optimizers import create_optimizer
from harness.optimizers.oneshot import dropout_rate, drop_paths, ghost_slices, mutate, node_rows, path_entries
from search_spaces import SupernetConfig, get_space
from search_spaces.errors import ConfigError

TINY = SupernetConfig(channels=4, depth=1, num_classes=3, in_channels=1, input_size=8)


def _oneshot(space_name: str = "nb201", **over):
    space = get_space(space_name)
    cfg = TINY if space_name == "nb201" else TINY.with_overrides(depth=3)
    torch.manual_seed(0)
    net = space.build_supernet(cfg)
    return create_optimizer("oneshot", space, net, {"n_candidates": 3, **over}, epochs=2, steps_per_epoch=3, seed=0)


def _batch(n: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_dropout_rate_rises_linearly_from_zero_to_r_max():
    rates = [dropout_rate(s, 11, 0.3) for s in range(11)]
    assert rates[0] == 0.0 and math.isclose(rates[-1], 0.3)
    np.testing.assert_allclose(np.diff(rates), 0.03)
    assert dropout_rate(0, 1, 0.3) == 0.0


def test_optimizer_follows_the_schedule_over_training():
    opt = _oneshot(r_max=0.4)
    seen = []
    for epoch in range(2):
        opt.on_epoch_start(epoch)
        for _ in range(3):
            opt.step(_batch(), _batch(seed=1))
            seen.append(opt.rate)
    np.testing.assert_allclose(seen, np.linspace(0, 0.4, 6))


@pytest.mark.parametrize("space_name", ["nb201", "s5", "s1"])
def test_keep_one_path_per_node_even_at_rate_one(space_name):
    space = get_space(space_name)
    nodes, paths = node_rows(space), path_entries(space)
    masks = drop_paths(nodes, paths, 1.0, 200, np.random.default_rng(0))
    for g, m in masks.items():
        assert not (m & ~paths[g]).any(), "a 'none' option is never a path"
        for rows in nodes[g]:
            assert (m[:, rows].reshape(200, -1).sum(1) == 1).all()
    full = drop_paths(nodes, paths, 0.0, 5, np.random.default_rng(0))
    for g, m in full.items():
        assert (m == paths[g]).all()


def test_fanin_scaling_drops_each_path_with_r_to_the_one_over_k():
    space = get_space("nb201")
    nodes, paths = node_rows(space), path_entries(space)
    assert nodes["cell"] == [[0], [1, 2], [3, 4, 5]]  # NB-201 nodes 1, 2, 3
    r, n = 0.3, 20000
    m = drop_paths(nodes, paths, r, n, np.random.default_rng(1))["cell"]
    # node 3: 3 edges x 4 real ops = 12 paths, each dropped with r^(1/12); all 12 drop with
    # probability r, and then one of them (each with chance 1/12) is kept
    k = 12
    p_drop = r ** (1 / k)
    kept_frac = m[:, 3:6][:, :, 1:].mean()
    expected = (1 - p_drop) + r / k
    assert abs(kept_frac - expected) < 0.01
    plain = drop_paths(nodes, paths, r, n, np.random.default_rng(1), fanin_scaling=False)["cell"]
    assert abs(plain[:, 0, 1:].mean() - ((1 - r) + r ** 4 / 4)) < 0.01


def test_ghost_slices_cover_the_batch():
    assert ghost_slices(64, 32) == [slice(0, 32), slice(32, 64)]
    assert ghost_slices(8, 32) == [slice(0, 8)]
    sl = ghost_slices(70, 32)
    assert len(sl) == 2 and sl[0].start == 0 and sl[-1].stop == 70


def test_ghost_batch_norm_uses_per_ghost_statistics():
    opt = _oneshot(ghost_batch_size=4)
    net = opt.supernet
    sizes = []
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    hooks = [b.register_forward_hook(lambda m, i, o: sizes.append(i[0].shape[0])) for b in bns]
    x, _ = _batch(12)
    masks = drop_paths(opt.nodes, opt.paths, 0.5, 3, np.random.default_rng(0))
    with torch.no_grad():
        out = opt.ghost_forward(x, masks)
    for h in hooks:
        h.remove()
    assert sizes and set(sizes) == {4}, "every BN call sees exactly one ghost batch"
    with torch.no_grad():
        ref = torch.cat([net(x[4 * i:4 * i + 4], {"cell": torch.as_tensor(masks["cell"][i]).float()})
                         for i in range(3)])
        same = {"cell": np.repeat(masks["cell"][:1], 3, 0)}
        ghost_same = opt.ghost_forward(x, same)
        whole = net(x, {"cell": torch.as_tensor(masks["cell"][0]).float()})
    torch.testing.assert_close(out, ref)
    # identical masks, still per-ghost statistics: differs from one call over the whole batch
    assert not torch.allclose(ghost_same, whole, atol=1e-4)


def test_per_example_masks_run_through_per_example_weights():
    opt = _oneshot(ghost_batch_size=4, mask_per="example", r_max=0.5)
    opt.on_epoch_start(0)
    out = opt.step(_batch(8), _batch(8, seed=1))
    assert all(torch.isfinite(v) for v in out.values())


def test_path_parameters_map_nb201_edges():
    opt = _oneshot()
    cells = [m for m in opt.supernet.modules() if hasattr(m, "edges")]
    pp = opt.path_params
    assert len(cells) == 3 and set(pp) == {("cell", e, k) for e in range(6) for k in (2, 3)}  # 1x1 = op 2, 3x3 = op 3
    assert [id(p) for p in pp[("cell", 4, 3)]] == [id(p) for c in cells for p in c.edges[4].conv3.parameters()]
    shared = {id(p) for p in opt.shared_params}
    assert all(id(p) not in shared for ps in pp.values() for p in ps)
    assert id(opt.supernet.classifier.weight) in shared


@pytest.mark.parametrize("space_name", ["nb201", "s5"])
def test_l2_penalty_gradient_is_zero_on_inactive_paths(space_name):
    opt = _oneshot(space_name, w_weight_decay=0.1)
    paths = path_entries(opt.space)["cell"]
    active = {"cell": paths.copy()}
    active["cell"][1::2] = False  # odd rows inactive
    params = list(opt.supernet.parameters())
    grads = torch.autograd.grad(opt.l2_penalty(active), params, allow_unused=True)
    by_id = {id(p): g for p, g in zip(params, grads)}
    for (_, e, k), ps in opt.path_params.items():
        for p in ps:
            g = by_id[id(p)]
            if active["cell"][e, k]:
                torch.testing.assert_close(g, 0.1 * p.detach())
            else:
                assert g is None or not g.abs().any()
    for p in opt.shared_params:
        torch.testing.assert_close(by_id[id(p)], 0.1 * p.detach())


def test_weight_decay_is_not_applied_by_sgd():
    opt = _oneshot(w_weight_decay=0.5)
    assert all(g["weight_decay"] == 0.0 for g in opt.weights.opt.param_groups)


def test_evolution_selection_and_mutation_give_valid_architectures():
    opt = _oneshot("s5", selection="evolution", n_candidates=6, population=3, tournament=2)
    a = opt.select([_batch()])
    opt.space.check(a)
    rng = np.random.default_rng(0)
    for name in ("nb201", "s1"):
        sp = get_space(name)
        parent = sp.sample(rng)
        for _ in range(5):
            sp.check(mutate(sp, parent, rng))


def test_config_is_validated():
    with pytest.raises(ConfigError):
        _oneshot(r_max=1.5)
    with pytest.raises(ConfigError):
        _oneshot(mask_per="batch")
    with pytest.raises(ConfigError):
        _oneshot(selection="grid")
