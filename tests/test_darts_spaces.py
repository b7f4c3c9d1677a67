"""DARTS-style spaces S1-S5: op tables, ops, supernet, genotypes, discretization, networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from search_spaces import Architecture, SupernetConfig, get_space
from search_spaces.darts import DARTS_SPECS, S5, Genotype, parse_genotypes
from search_spaces.darts.network import EvalNetConfig, network_from_genotype
from search_spaces.darts.ops import make_op
from search_spaces.darts.spaces import darts_edges
from search_spaces.errors import ArchitectureError

TINY = SupernetConfig(channels=4, depth=3, input_size=16, num_classes=10)
TINY_DIGITS = SupernetConfig(channels=8, depth=3, in_channels=1, input_size=8, num_classes=10)
# A genotype printed by RobustDARTS (S1, CIFAR-10); inputs listed by strength, as in its logs.
REAL = ("Genotype(normal=[('skip_connect', 1), ('dil_conv_3x3', 0), ('skip_connect', 2), ('skip_connect', 0), "
        "('skip_connect', 0), ('skip_connect', 2), ('skip_connect', 2), ('skip_connect', 1)], "
        "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), "
        "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
        "('max_pool_3x3', 1)], reduce_concat=range(2, 6))")


def _softmax(space, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=g).softmax(-1) for k, v in space.zeros().items()}


# -- op tables --------------------------------------------------------------
def test_uniform_op_lists():
    want = {"s2": ("skip_connect", "sep_conv_3x3"), "s3": ("none", "skip_connect", "sep_conv_3x3"),
            "s4": ("noise", "sep_conv_3x3")}
    for name, ops in want.items():
        groups = {g.name: g for g in get_space(name).param_groups}
        assert set(groups) == {"normal", "reduce"}
        for g in groups.values():
            assert g.row_options == (ops,) * 14


def test_s1_table_matches_robustdarts():
    groups = {g.name: g.row_options for g in get_space("s1").param_groups}
    assert all(len(rows) == 14 and all(len(r) == 2 for r in rows) for rows in groups.values())
    # Spot checks against automl/RobustDARTS src/spaces.py (primitives_1).
    assert groups["normal"][0] == ("skip_connect", "dil_conv_3x3")
    assert groups["normal"][5] == ("max_pool_3x3", "skip_connect")
    assert groups["normal"][13] == ("dil_conv_3x3", "dil_conv_5x5")
    assert groups["reduce"][1] == ("max_pool_3x3", "dil_conv_3x3")
    assert groups["reduce"][6] == ("max_pool_3x3", "sep_conv_3x3")
    assert groups["reduce"][13] == ("skip_connect", "dil_conv_5x5")


def test_edge_order_is_darts_order():
    assert darts_edges(4)[:5] == ((0, 0), (0, 1), (1, 0), (1, 1), (1, 2))
    assert len(darts_edges(4)) == 14 and DARTS_SPECS["s1"].edges == darts_edges(4)


# -- ops --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["none", "noise", "skip_connect", "max_pool_3x3", "avg_pool_3x3",
                                  "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"])
@pytest.mark.parametrize("stride", [1, 2])
def test_op_shapes(name, stride):
    op = make_op(name, 4, stride, affine=False, search=True)
    for size in (8, 7):  # odd sizes too: every op rounds up like the others
        y = op(torch.randn(2, 4, size, size))
        assert y.shape == (2, 4, -(-size // stride), -(-size // stride))


def test_noise_ignores_input():
    op = make_op("noise", 3, 1, affine=False)
    a, b = torch.randn(2, 3, 6, 6), 100 + torch.randn(2, 3, 6, 6)
    torch.manual_seed(5)
    ya = op(a)
    torch.manual_seed(5)
    yb = op(b)
    torch.testing.assert_close(ya, yb)
    assert ya.shape == a.shape and ya.std() > 0.5
    assert make_op("noise", 3, 2, affine=False)(a).shape == (2, 3, 3, 3)


def test_search_pool_has_bn_eval_pool_does_not():
    search = make_op("max_pool_3x3", 4, 1, affine=False, search=True)
    plain = make_op("max_pool_3x3", 4, 1, affine=True, search=False)
    has_bn = lambda m: any(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())  # noqa: E731
    assert has_bn(search) and not has_bn(plain)


# -- supernet ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["s1", "s2", "s3", "s4"])
def test_supernet_output_shape(name):
    space = get_space(name)
    net = space.build_supernet(TINY)
    assert net(torch.randn(2, 3, 16, 16), _softmax(space)).shape == (2, 10)


@pytest.mark.parametrize("depth", [3, 4, 5])
def test_s5_supernet_on_digits_size(depth):
    cfg = TINY_DIGITS.with_overrides(depth=depth)
    net = S5.build_supernet(cfg)
    assert net(torch.randn(3, 1, 8, 8), _softmax(S5)).shape == (3, 10)
    # All-`none` architecture: every node is zero, the head still answers.
    assert net(torch.randn(3, 1, 8, 8), S5.one_hot(S5.from_index(0))).shape == (3, 10)


def test_per_example_weights_equal_looping_examples():
    torch.manual_seed(0)
    space = get_space("s3")
    # Running statistics so that eval-mode BN does not depend on the batch.
    net = space.build_supernet(TINY.with_overrides(input_size=8, track_running_stats=True)).eval()
    x = torch.randn(3, 3, 8, 8)
    g = torch.Generator().manual_seed(1)
    w = {k: torch.randn(3, *v.shape, generator=g).softmax(-1) for k, v in space.zeros().items()}
    batched = net(x, w)
    looped = torch.cat([net(x[i:i + 1], {k: v[i] for k, v in w.items()}) for i in range(3)])
    torch.testing.assert_close(batched, looped)


def test_active_ops_equal_dense_one_hot():
    torch.manual_seed(0)
    space = get_space("s1")
    net = space.build_supernet(TINY.with_overrides(input_size=8, track_running_stats=True)).eval()
    arch = space.sample(np.random.default_rng(3))
    w = space.one_hot(arch)
    n = len(space.spec.edges)
    active = {"normal": arch.choices[:n], "reduce": arch.choices[n:]}
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(net(x, w, active=active), net(x, w))


def test_drop_path_only_in_training():
    torch.manual_seed(0)
    space = get_space("s2")
    net = space.build_supernet(TINY.with_overrides(input_size=8, track_running_stats=True))
    w, x = _softmax(space), torch.randn(2, 3, 8, 8)
    net.eval()
    ref = net(x, w)
    net.drop_path_prob = 0.9
    torch.testing.assert_close(net(x, w), ref)  # eval: drop-path is off


# -- genotype and S1-S4 encoding -----------------------------------------------
def test_genotype_text_round_trip():
    g = Genotype.from_str(REAL)
    assert g.to_str() == REAL and g.normal[1] == ("dil_conv_3x3", 0) and g.reduce_concat == (2, 3, 4, 5)
    assert parse_genotypes(REAL + "\n" + REAL) == [g, g]


@pytest.mark.parametrize("bad", ["", "Genotype(normal=[])", REAL.replace("range(2, 6))", "range(2, 6)"),
                                 REAL.replace("('skip_connect', 1)", "('skip_connect', one)", 1)])
def test_malformed_genotype_quotes_text(bad):
    with pytest.raises(ArchitectureError) as e:
        get_space("s1").from_str(bad)
    assert repr(bad)[:40] in str(e.value) or bad[:40] in str(e.value)


def test_outside_space_rejected():
    s2 = get_space("s2")
    with pytest.raises(ArchitectureError):
        s2.from_str(REAL)  # dil_conv_3x3 is not an S2 op
    with pytest.raises(ArchitectureError):
        get_space("s1").check(Architecture("s1", (0,) * 28))  # every edge kept: 4 inputs at node 2


def test_real_arch_files_parse(shared_data):
    logs = shared_data / "robustdarts" / "search_logs"
    files = sorted(logs.glob("*/*/*/arch_*"))
    if not files:
        pytest.skip(f"no RobustDARTS arch files under {logs}")
    for f in files:
        text = f.read_text()
        space = get_space(f.relative_to(logs).parts[0])
        (g,) = parse_genotypes(text)
        assert g.to_str() == text.strip()
        arch = space.from_str(text)
        assert space.from_str(space.to_str(arch)) == arch
        assert space.genotype(arch).normal_concat == (2, 3, 4, 5)


@pytest.mark.parametrize("name", ["s1", "s2", "s3", "s4"])
def test_sample_round_trips(name):
    space = get_space(name)
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = space.sample(rng)
        assert space.from_str(space.to_str(a)) == a
        assert space.discretize(space.one_hot(a)) == a


def test_discretize_top2_excluding_none():
    space = get_space("s3")  # ops: none, skip_connect, sep_conv_3x3
    w = torch.full((14, 3), 0.1)
    # Node 0 (edges 0, 1) keeps both. Node 1 (edges 2-4): edge 2 has the
    # largest weight overall but on `none`, so edges 3 and 4 win.
    w[2] = torch.tensor([0.98, 0.01, 0.01])
    w[3] = torch.tensor([0.5, 0.2, 0.3])
    w[4] = torch.tensor([0.4, 0.35, 0.25])
    w[0] = torch.tensor([0.9, 0.06, 0.04])  # `none` largest: op is the best non-none one
    arch = space.discretize({"normal": w, "reduce": w.clone()})
    normal = arch.choices[:14]
    assert normal[0] == 1 and normal[2] == -1 and normal[3] == 2 and normal[4] == 1
    for node in range(4):
        assert sum(normal[e] >= 0 for e, (n, _) in enumerate(darts_edges(4)) if n == node) == 2
    assert all(space.param_groups[0].row_options[e][c] != "none" for e, c in enumerate(normal) if c >= 0)


# -- S5 ------------------------------------------------------------------------
def test_s5_enumeration_strings_and_indices():
    archs = list(S5.enumerate())
    assert len(archs) == 81 == len(set(archs)) == S5.size
    strings = set()
    for i, a in enumerate(archs):
        assert S5.index(a) == i and S5.from_index(i) == a
        s = S5.to_str(a)
        assert S5.from_str(s) == a and S5.to_str(S5.from_str(s)) == s
        assert S5.discretize(S5.one_hot(a)) == a
        strings.add(s)
    assert len(strings) == 81
    assert S5.to_str(Architecture("s5", (2, 1, 0, 2))) == "|sep_conv_3x3~k-2|skip_connect~k-1|+|none~k-1|sep_conv_3x3~n0|"
    assert [g.shape for g in S5.param_groups] == [(4, 3)]


@pytest.mark.parametrize("bad", ["", "|none~k-2|none~k-1|", "|none~k-1|none~k-2|+|none~k-1|none~n0|",
                                 "|conv~k-2|none~k-1|+|none~k-1|none~n0|"])
def test_s5_malformed_quotes_text(bad):
    with pytest.raises(ArchitectureError) as e:
        S5.from_str(bad)
    assert repr(bad) in str(e.value)


def test_s5_discrete_network_on_digits():
    for i in (0, 40, 80):
        net = S5.build_network(S5.from_index(i), TINY_DIGITS)
        assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)


# -- discrete network ------------------------------------------------------------
def test_network_from_real_genotype_with_aux_head():
    torch.manual_seed(0)
    space = get_space("s1")
    arch = space.from_str(REAL)
    net = space.build_network(arch, TINY, EvalNetConfig(auxiliary=True, drop_path_prob=0.2))
    x = torch.randn(2, 3, 16, 16)
    logits, aux = net.train()(x)
    assert logits.shape == aux.shape == (2, 10)
    assert net.eval()(x).shape == (2, 10)
    # Only the selected ops exist: 8 per cell.
    assert all(len(cell.ops) == 8 for cell in net.cells)
    plain = network_from_genotype(Genotype.from_str(REAL), TINY)
    assert plain.train()(x).shape == (2, 10)


# -- extra supernet semantics ------------------------------------------------------
def test_zero_row_equals_none_and_skipped_rows():
    torch.manual_seed(0)
    net = S5.build_supernet(TINY_DIGITS.with_overrides(channels=4)).double().eval()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    w = S5.one_hot(S5.from_index(80))["cell"].double()
    w_zero, w_none = w.clone(), w.clone()
    w_zero[0] = 0.0
    w_none[0] = torch.tensor([1.0, 0.0, 0.0])
    ref = net(x, {"cell": w_none})
    torch.testing.assert_close(net(x, {"cell": w_zero}), ref)
    # active -1 skips a row; the harness' convention (argmax of a zero row, weight 0) agrees
    torch.testing.assert_close(net(x, {"cell": w_zero}, active={"cell": [-1, 2, 2, 2]}), ref)
    torch.testing.assert_close(net(x, {"cell": w_zero}, active={"cell": [0, 2, 2, 2]}), ref)


def test_s5_network_drops_none_edges_and_empty_node_is_zero():
    arch = S5.from_str("|none~k-2|none~k-1|+|sep_conv_3x3~k-1|skip_connect~n0|")
    net = S5.build_network(arch, TINY_DIGITS)
    assert all(len(cell.ops) == 2 for cell in net.cells)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)


# -- PC-DARTS hooks -----------------------------------------------------------------
def test_edge_norm_scales_edges_and_partial_channels_run():
    torch.manual_seed(0)
    space = get_space("s3")
    assert DARTS_SPECS["s3"].edges[0][0] == 0
    net = space.build_supernet(TINY.with_overrides(input_size=8, track_running_stats=True)).double().eval()
    assert net.edge_targets["normal"][:2] == [[0, 1], [2, 3, 4]]
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    w = {k: v.double() for k, v in _softmax(space).items()}
    ones = {f"edge_norm:{k}": torch.ones(14, dtype=torch.float64) for k in w}
    torch.testing.assert_close(net(x, {**w, **ones}), net(x, w))
    halves = {k: torch.full((14,), 0.5, dtype=torch.float64) for k in ones}
    scaled = {k: v * 0.5 if v.dim() == 2 else v for k, v in w.items()}
    torch.testing.assert_close(net(x, {**w, **halves}), net(x, scaled))  # edges are linear in their weights
    for name in ("s1", "s4"):
        pc = get_space(name).build_supernet(TINY.with_overrides(input_size=7, partial_channels=2))
        assert pc(torch.randn(2, 3, 7, 7), _softmax(get_space(name))).shape == (2, 10)
    assert S5.build_supernet(TINY_DIGITS.with_overrides(partial_channels=4))(torch.randn(2, 1, 8, 8),
                                                                             _softmax(S5)).shape == (2, 10)


def test_s5_default_config_is_digits_sized():
    c = S5.default_config()
    assert (c.channels, c.depth, c.in_channels, c.input_size, c.num_classes) == (8, 3, 1, 8, 10)
    assert not c.affine and not c.track_running_stats
    assert S5.build_supernet(c)(torch.randn(2, 1, 8, 8), _softmax(S5)).shape == (2, 10)
