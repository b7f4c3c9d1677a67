"""Conformance: each optimizer's architecture gradient equals a plain re-implementation of the official semantics.

The reference is written here, independently of the optimizers: a dense
per-op loop over the NB-201 cell (``_ref_logits``) that evaluates
``sum_k w[e, k] * op_k(h)`` per edge (DARTS's ``MixedOp``), or AutoDL's
``SearchCell.forward_gdas`` (the sampled op times its weight plus every other
op's weight alone), all in float64 on a tiny supernet. The optimizer under
test runs its own (fused, sparse) path; the gradient it hands to its
architecture optimizer is recorded and compared with ``assert_close``.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from harness.optimizers import create_optimizer
from search_spaces import get_space
from search_spaces.nb201.space import EDGES

NB201 = get_space("nb201")
TOL = dict(rtol=1e-9, atol=1e-11)


def _net(track: bool = False):
    cfg = NB201.default_config().with_overrides(channels=4, depth=1, num_classes=5, in_channels=3, input_size=8,
                                                track_running_stats=track)
    torch.manual_seed(0)
    return NB201.build_supernet(cfg).double()


def _batch(seed: int, n: int = 6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 5, (n,), generator=g)


def _op(edge, k: int, h: torch.Tensor) -> torch.Tensor:
    """NB-201's five ops in official order: none, skip, 1x1 ReLU-conv-BN, 3x3 ReLU-conv-BN, 3x3 avg pool."""
    if k == 0:
        return h * 0.0
    if k == 1:
        return h
    if k == 2:
        return edge.conv1.bn(edge.conv1.conv(F.relu(h)))
    if k == 3:
        return edge.conv3.bn(edge.conv3.conv(F.relu(h)))
    return F.avg_pool2d(h, 3, 1, 1, count_include_pad=False)


def _ref_cell(cell, x, w, gdas_index=None):
    nodes = [x]
    for i in range(1, 4):
        total = 0.0
        for e, (t, j) in enumerate(EDGES):
            if t != i:
                continue
            if gdas_index is None:  # DARTS MixedOp: every op weighted
                total = total + sum(w[e, k] * _op(cell.edges[e], k, nodes[j]) for k in range(5))
            else:  # AutoDL forward_gdas: weights[k] * op(h) for the sample, weights[k] alone otherwise
                sel = gdas_index[e]
                total = total + sum(w[e, k] * _op(cell.edges[e], k, nodes[j]) if k == sel else w[e, k]
                                    for k in range(5))
        nodes.append(total)
    return nodes[-1]


def _ref_logits(net, x, w, gdas_index=None):
    from search_spaces.nb201.supernet import SearchCell

    h = net.stem(x)
    for layer in net.layers:
        h = _ref_cell(layer, h, w, gdas_index) if isinstance(layer, SearchCell) else layer(h)
    return net.classifier(net.last(h).mean(dim=(2, 3)))


def _make(name: str, net=None, **over):
    net = net if net is not None else _net()
    opt = create_optimizer(name, NB201, net, over, epochs=4, steps_per_epoch=2, seed=3)
    for k, a in opt.alpha.tensors().items():  # float64 logits, distinct enough to rank
        with torch.no_grad():
            a.data = torch.randn(a.shape, generator=torch.Generator().manual_seed(11), dtype=torch.float64) * 0.5
    group = opt.adam.param_groups[0]  # the optimizer's own settings (DrNAS sets its weight decay after init)
    opt.adam = type(opt.adam)(opt.alpha.parameters(), **{k: group[k] for k in ("lr", "betas", "weight_decay", "eps")})
    opt.generator = torch.Generator().manual_seed(5)
    return opt


def _record(opt) -> list[dict[str, torch.Tensor]]:
    seen = []
    orig = opt.arch_update

    def rec(grads):
        seen.append({k: v.detach().clone() for k, v in grads.items()})
        orig(grads)

    opt.arch_update = rec
    return seen


def _grad_of(fn, alpha: torch.Tensor) -> torch.Tensor:
    a = alpha.detach().clone().requires_grad_(True)
    return torch.autograd.grad(fn(a), a)[0]


@pytest.mark.parametrize("order", ["arch-first", "weights-first"])
def test_darts_first_order_gradient(order):
    opt = _make("darts", step_order=order)
    seen = _record(opt)
    train, valid = _batch(1), _batch(2)
    alpha0 = opt.alpha.alpha["cell"].detach().clone()
    ref_net = copy.deepcopy(opt.supernet)
    if order == "weights-first":  # AutoDL DARTS-V1: the architecture gradient sees the updated weights
        opt.on_epoch_start(0)
        opt.step(train, valid)
        ref_net.load_state_dict(opt.supernet.state_dict())
    else:
        opt.on_epoch_start(0)
        opt.step(train, valid)
    ref = _grad_of(lambda a: F.cross_entropy(_ref_logits(ref_net, valid[0], torch.softmax(a, -1)), valid[1]), alpha0)
    torch.testing.assert_close(seen[0]["cell"], ref, **TOL)


def _gumbel_hard_ref(alpha, tau, gen):
    """AutoDL search_model_gdas.py: h = one_hot - p.detach() + p, p = softmax((log_softmax(a) + g) / tau)."""
    gumbels = -torch.empty_like(alpha).exponential_(generator=gen).log()
    probs = torch.softmax((alpha.log_softmax(-1) + gumbels) / tau, -1)
    index = probs.argmax(-1)
    one_h = torch.zeros_like(probs).scatter_(-1, index.unsqueeze(-1), 1.0)
    return one_h - probs.detach() + probs, index.tolist()


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("unselected", [True, False])
def test_gdas_gradient_with_and_without_unselected_terms(unselected, fused):
    net = _net()
    net.set_fused(fused)
    opt = _make("gdas", net=net, unselected_terms=unselected)
    seen, states = _record(opt), []
    orig = opt.hard_sample

    def hard_sample():
        states.append(opt.generator.get_state())
        return orig()

    opt.hard_sample = hard_sample
    train, valid = _batch(1), _batch(2)
    opt.on_epoch_start(1)
    alpha0 = opt.alpha.alpha["cell"].detach().clone()
    opt.step(train, valid)
    gen = torch.Generator().set_state(states[1])  # the architecture step's sample
    tau = 10.0 - (10.0 - 0.1) * 1 / 3

    def loss(a):
        h, idx = _gumbel_hard_ref(a, tau, torch.Generator().set_state(gen.get_state()))
        if not unselected:  # NASNet-space / nasbench-1shot1 GDAS: only the sampled op's weight in the graph
            return F.cross_entropy(_ref_logits(opt.supernet, valid[0], h * F.one_hot(torch.tensor(idx), 5)),
                                   valid[1])
        return F.cross_entropy(_ref_logits(opt.supernet, valid[0], h, gdas_index=idx), valid[1])

    ref = _grad_of(loss, alpha0)
    torch.testing.assert_close(seen[0]["cell"], ref, **TOL)
    if unselected:  # the unselected terms reach every logit of every edge
        assert (ref.abs() > 0).all()


def test_snas_single_level_gradient():
    opt = _make("snas")
    train, valid = _batch(1), _batch(2)
    opt.on_epoch_start(2)
    state = opt.generator.get_state()
    seen = _record(opt)
    alpha0 = opt.alpha.alpha["cell"].detach().clone()
    net0 = copy.deepcopy(opt.supernet)
    opt.step(train, valid)
    tau = 0.97 ** 2

    def loss(a):  # concrete sample softmax((a + g) / tau) on the training batch (single level)
        gumbel = -torch.empty_like(a).exponential_(generator=torch.Generator().set_state(state)).log()
        return F.cross_entropy(_ref_logits(net0, train[0], torch.softmax((a + gumbel) / tau, -1)), train[1])

    torch.testing.assert_close(seen[0]["cell"], _grad_of(loss, alpha0), **TOL)


def test_snas_bilevel_gradient_and_temperature():
    opt = _make("snas-bilevel")
    train, valid = _batch(1), _batch(2)
    opt.on_epoch_start(1)
    assert opt.tau == pytest.approx(10.0 + 1 * (1.0 - 10.0) / 4)  # DrNAS: tau += (tau_min - tau_max) / epochs
    state = opt.generator.get_state()
    seen = _record(opt)
    alpha0 = opt.alpha.alpha["cell"].detach().clone()
    net0 = copy.deepcopy(opt.supernet)
    opt.step(train, valid)

    def loss(a):  # F.gumbel_softmax(a, tau, hard=False) on the validation batch
        gumbel = -torch.empty_like(a).exponential_(generator=torch.Generator().set_state(state)).log()
        return F.cross_entropy(_ref_logits(net0, valid[0], torch.softmax((a + gumbel) / opt.tau, -1)), valid[1])

    torch.testing.assert_close(seen[0]["cell"], _grad_of(loss, alpha0), **TOL)


@pytest.mark.parametrize("reg_type", ["l2", "kl"])
def test_drnas_gradient_and_official_regulariser(reg_type):
    import numpy as np
    from torch.distributions import Dirichlet, kl_divergence

    opt = _make("drnas", reg_type=reg_type)
    train, valid = _batch(1), _batch(2)
    opt.on_epoch_start(0)
    rng_state = copy.deepcopy(opt.rng.bit_generator.state)
    seen = _record(opt)
    alpha0 = opt.alpha.alpha["cell"].detach().clone()
    net0 = copy.deepcopy(opt.supernet)
    opt.step(train, valid)
    rng = np.random.default_rng()
    rng.bit_generator.state = rng_state
    seed = int(rng.integers(0, 2**62))

    def loss(a):  # DrNAS: Dirichlet(ELU(a) + 1).rsample(); KL to Dir(1) only under reg_type kl
        conc = F.elu(a) + 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            w = Dirichlet(conc, validate_args=False).rsample()
        out = F.cross_entropy(_ref_logits(net0, valid[0], w), valid[1])
        if reg_type == "kl":
            out = out + 1e-3 * kl_divergence(Dirichlet(conc), Dirichlet(torch.ones_like(conc))).sum()
        return out

    g = _grad_of(loss, alpha0)
    torch.testing.assert_close(seen[0]["cell"], g, **TOL)
    # official Architect: Adam weight decay = reg_scale under l2, 0 under kl; first Adam step by hand
    wd = 1e-3 if reg_type == "l2" else 0.0
    gp = g + wd * alpha0
    m, v = 0.5 * 0 + (1 - 0.5) * gp, (1 - 0.999) * gp ** 2
    expected = alpha0 - 3e-4 * (m / (1 - 0.5)) / ((v / (1 - 0.999)).sqrt() + 1e-8)
    torch.testing.assert_close(opt.alpha.alpha["cell"].detach(), expected, **TOL)


def test_pcdarts_gradient_with_edge_normalisation():
    opt = _make("pc-darts", warmup_epochs=0, partial_channels=1)
    for p in opt.beta.values():
        with torch.no_grad():
            p.data = torch.randn(p.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    opt.beta_adam = torch.optim.Adam(opt.beta.parameters(), lr=6e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    seen = _record(opt)
    train, valid = _batch(1), _batch(2)
    alpha0 = opt.alpha.alpha["cell"].detach().clone()
    beta0 = opt.beta["cell"].detach().clone()
    net0 = copy.deepcopy(opt.supernet)
    opt.on_epoch_start(0)
    opt.step(train, valid)

    def loss(a):  # PC-DARTS: node input = sum_e softmax(beta over the node's edges)_e * MixedOp_e
        norm = torch.zeros(6, dtype=torch.float64)
        for node_edges in ([0], [1, 2], [3, 4, 5]):
            norm[node_edges] = torch.softmax(beta0[node_edges], 0)
        return F.cross_entropy(_ref_logits(net0, valid[0], torch.softmax(a, -1) * norm.unsqueeze(-1)), valid[1])

    torch.testing.assert_close(seen[0]["cell"], _grad_of(loss, alpha0), **TOL)


def _with_params(net, tensors):
    """A copy of ``net`` whose parameters are ``tensors`` (as DARTS's ``_construct_model_from_theta``)."""
    out = copy.deepcopy(net)
    with torch.no_grad():
        for p, t in zip(out.parameters(), tensors):
            p.copy_(t)
    return out


def _grads(loss, params):
    gs = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs)]


def test_darts_second_order_gradient():
    """DARTS ``Architect._backward_step_unrolled``: virtual step w' = w - xi (m * buf + dL_train/dw + wd w),
    then dL_val(w')/dalpha - xi * (dL_train(w+)/dalpha - dL_train(w-)/dalpha) / (2 eps), eps = 0.01 / ||v||."""
    opt = _make("darts-2nd")
    opt.on_epoch_start(0)
    opt.step(_batch(3), _batch(4))  # a first step fills the momentum buffers
    seen = _record(opt)
    train, valid = _batch(1), _batch(2)
    alpha0 = opt.alpha.alpha["cell"].detach().clone()
    net0 = copy.deepcopy(opt.supernet)
    bufs = [b.detach().clone() for b in opt.weights.momentum_buffers()]
    xi, mom, wd = opt.weights.lr, 0.9, 3e-4
    opt.step(train, valid)

    params = list(net0.parameters())
    soft = torch.softmax(alpha0, -1)
    g = _grads(F.cross_entropy(_ref_logits(net0, train[0], soft), train[1]), params)
    w1 = [p.detach() - xi * (mom * b + gi + wd * p.detach()) for p, b, gi in zip(params, bufs, g)]
    net1 = _with_params(net0, w1)
    a = alpha0.clone().requires_grad_(True)
    lv = F.cross_entropy(_ref_logits(net1, valid[0], torch.softmax(a, -1)), valid[1])
    dalpha, *v = _grads(lv, [a] + list(net1.parameters()))
    eps = 0.01 / torch.sqrt(sum((vi ** 2).sum() for vi in v))

    def train_grad(sign):
        net = _with_params(net0, [p.detach() + sign * eps * vi for p, vi in zip(params, v)])
        b = alpha0.clone().requires_grad_(True)
        return torch.autograd.grad(F.cross_entropy(_ref_logits(net, train[0], torch.softmax(b, -1)), train[1]), b)[0]

    ref = dalpha - xi * (train_grad(1.0) - train_grad(-1.0)) / (2 * eps)
    torch.testing.assert_close(seen[0]["cell"], ref, rtol=1e-6, atol=1e-9)


def test_balenas_gradient_at_the_draws():
    """BaLeNAS: alpha_j = mu + sigma o eps_j, j = 1..M; the update gets the mean of dL_val(softmax(alpha_j))/dalpha
    over the M draws (first order here; the second-order form is the DARTS gradient above at each draw)."""
    opt = create_optimizer("balenas-1st", NB201, _net(), {"mc_samples": 3}, epochs=4, steps_per_epoch=2, seed=3)
    opt.generator = torch.Generator().manual_seed(5)
    for k, m in opt.vadam.mu.items():
        with torch.no_grad():
            m.data = m.data.double()
    opt.vadam.s = {k: v.double() for k, v in opt.vadam.s.items()}
    opt.vadam.m = {k: v.double() for k, v in opt.vadam.m.items()}
    opt.vadam.prev = {k: v.double() for k, v in opt.vadam.prev.items()}
    seen = []
    real = opt.vadam.step
    opt.vadam.step = lambda grads, sq: (seen.append(({k: v.detach().clone() for k, v in grads.items()},
                                                     {k: v.detach().clone() for k, v in sq.items()})), real(grads, sq))
    mu0 = {k: v.detach().clone() for k, v in opt.vadam.mu.items()}
    sig0 = {k: v.detach().clone() for k, v in opt.vadam.sigma().items()}
    state = opt.generator.get_state()
    net0 = copy.deepcopy(opt.supernet)
    train, valid = _batch(1), _batch(2)
    opt.on_epoch_start(0)
    opt.step(train, valid)
    gen = torch.Generator().set_state(state)
    refs = []
    for _ in range(3):
        draw = mu0["cell"] + sig0["cell"] * torch.randn(mu0["cell"].shape, generator=gen, dtype=torch.float64)
        refs.append(_grad_of(lambda a: F.cross_entropy(_ref_logits(net0, valid[0], torch.softmax(a, -1)),
                                                      valid[1]), draw))
    torch.testing.assert_close(seen[0][0]["cell"], sum(refs) / 3, **TOL)
    # Vadam (Khan et al. 2018) feeds s the mean of the draws' squared gradients, not the square of their mean
    torch.testing.assert_close(seen[0][1]["cell"], sum(r * r for r in refs) / 3, **TOL)
    assert not torch.allclose(seen[0][1]["cell"], (sum(refs) / 3) ** 2)


def test_gdas_on_nb1shot1_as_nasbench_1shot1():
    """nasbench-1shot1 optimizers/gdas: inside the loop over cells, the mixed ops get hard Gumbel samples
    (straight-through, only the sampled op runs) and the input/output weights soft ones,
    softmax((alpha + g) / tau); the architecture step comes first. Float64, tiny supernet, one step: the
    architecture gradient against a plain per-cell forward written here."""
    from search_spaces import SupernetConfig

    space = get_space("nb1shot1-s1")
    torch.manual_seed(0)
    net = space.build_supernet(SupernetConfig(channels=4, depth=1, num_classes=5, input_size=8)).double()
    opt = create_optimizer("gdas", space, net, {"hard_groups": ("ops",), "per_cell": True,
                                                "step_order": "arch-first", "unselected_terms": False,
                                                "tau_max": 10.0, "tau_min": 1.0},
                           epochs=4, steps_per_epoch=1, seed=2)
    for p in opt.alpha.tensors().values():
        p.data = p.data.double()
    g = torch.Generator().manual_seed(3)
    valid = (torch.randn(6, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 5, (6,), generator=g))
    train = (torch.randn(6, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 5, (6,), generator=g))
    alpha0 = {k: v.detach().clone() for k, v in opt.alpha.tensors().items()}
    net0 = copy.deepcopy(net)
    state = opt.generator.get_state()
    seen = []
    real = opt.arch_update
    opt.arch_update = lambda grads: (seen.append({k: v.detach().clone() for k, v in grads.items()}), real(grads))
    opt.on_epoch_start(0)
    opt.step(train, valid)
    # the plain computation: per cell, per group, the same noise stream; tau at epoch 0 is tau_max
    gen = torch.Generator().set_state(state)
    a = {k: v.clone().requires_grad_(True) for k, v in alpha0.items()}
    per_cell = []
    for _ in net0.cells:
        w = {}
        for k, logits in a.items():
            noise = -torch.empty(logits.shape, dtype=torch.float64).exponential_(generator=gen).clamp_min(1e-20).log()
            if k == "ops":
                probs = torch.softmax((torch.log_softmax(logits, -1) + noise) / 10.0, -1)
                one = F.one_hot(probs.argmax(-1), probs.shape[-1]).double()
                w[k] = (one - probs.detach() + probs) * one
            else:
                w[k] = torch.softmax((logits + noise) / 10.0, -1)
        per_cell.append(w)
    h = net0.stem(valid[0])
    for i, cell in enumerate(net0.cells):
        if i in net0.downsample_before:
            h = F.max_pool2d(h, 2, stride=2)
        h = cell(h, per_cell[i])
    logits_v = net0.classifier(net0.post(h).mean(dim=(2, 3)))
    ref = torch.autograd.grad(F.cross_entropy(logits_v, valid[1]), list(a.values()), allow_unused=True)
    for (k, got), want in zip(seen[0].items(), ref):
        torch.testing.assert_close(got, torch.zeros_like(got) if want is None else want, **TOL)
    assert any(seen[0][k].abs().sum() > 0 for k in seen[0] if k != "ops")  # soft topology weights learn
    # the weights stepped after the architecture (arch-first): the supernet has changed
    assert any(not torch.equal(p0, p1) for p0, p1 in zip(net0.parameters(), net.parameters()))
