"""Each optimizer's own math: DrNAS Dirichlet, SDARTS perturbations, SNAS temperature."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.optimizers import create_optimizer
from harness.optimizers.drnas import concentration
from harness.optimizers.parts.perturb import epsilon_schedule, pgd_linf, random_smoothing
from search_spaces import SupernetConfig, get_space

S5 = get_space("s5")
TINY = SupernetConfig(channels=4, depth=3, in_channels=1, input_size=8, num_classes=3)


def _opt(name, **over):
    torch.manual_seed(0)
    return create_optimizer(name, S5, S5.build_supernet(TINY), over, epochs=10, steps_per_epoch=2, seed=0)


def test_drnas_samples_on_simplex_with_dirichlet_mean():
    opt = _opt("drnas")
    with torch.no_grad():
        opt.alpha.alpha["cell"].copy_(torch.tensor([[0.5, -0.5, 2.0]] * 4))
    draws = torch.stack([opt._sample(opt.alpha.tensors())["cell"] for _ in range(3000)])
    assert (draws >= 0).all()
    torch.testing.assert_close(draws.sum(-1), torch.ones(3000, 4))
    beta = concentration(opt.alpha.alpha["cell"].detach())
    torch.testing.assert_close(draws.mean(0), beta / beta.sum(-1, keepdim=True), atol=0.02, rtol=0)
    # ELU + 1: alpha 0.5 -> 1.5, alpha -0.5 -> e^-0.5
    torch.testing.assert_close(beta[0], torch.tensor([1.5, torch.exp(torch.tensor(-0.5)).item(), 3.0]))
    # the samples carry gradients to alpha (pathwise)
    s = opt._sample(opt.alpha.tensors())["cell"]
    (s[:, 0]).sum().backward()
    assert opt.alpha.alpha["cell"].grad.abs().sum() > 0


def test_drnas_kl_regulariser_zero_at_prior():
    opt = _opt("drnas", reg_type="kl")
    with torch.no_grad():
        opt.alpha.alpha["cell"].zero_()  # ELU(0) + 1 = 1 = the prior
    assert float(opt.regulariser(opt.alpha.tensors()).detach()) == 0.0
    with torch.no_grad():
        opt.alpha.alpha["cell"].fill_(1.0)
    assert float(opt.regulariser(opt.alpha.tensors()).detach()) > 0


def test_sdarts_adv_stays_in_ball_and_increases_loss():
    torch.manual_seed(0)
    net = S5.build_supernet(TINY)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    clean = {"cell": torch.softmax(torch.randn(4, 3), -1)}
    loss_fn = lambda w: F.cross_entropy(net(x, w), y)  # noqa: E731
    eps = 0.1
    adv = pgd_linf(clean, loss_fn, eps, 7, torch.Generator().manual_seed(0))
    # SDARTS clips and renormalises after projecting, so rows stay distributions (not exactly in the ball)
    assert (adv["cell"] >= 0).all()
    torch.testing.assert_close(adv["cell"].sum(-1), torch.ones(4))
    with torch.no_grad():
        assert loss_fn(adv) >= loss_fn(clean)  # a failed attack keeps the clean weights
    rs = random_smoothing(clean, eps, torch.Generator().manual_seed(0))
    assert (rs["cell"] >= 0).all() and 0 < (rs["cell"] - clean["cell"]).abs().max()


def test_sdarts_epsilon_ramp():
    assert epsilon_schedule(0, 50, 0.03, 0.3) == 0.03
    assert abs(epsilon_schedule(25, 50, 0.03, 0.3) - 0.165) < 1e-12
    opt = _opt("sdarts-rs")
    opt.on_epoch_start(5)
    assert abs(opt.epsilon - (0.03 + 0.27 * 5 / 10)) < 1e-12


def test_snas_temperature_and_single_level_update():
    opt = _opt("snas")
    opt.on_epoch_start(3)
    assert abs(opt.tau - 0.97 ** 3) < 1e-12
    before = opt.alpha.alpha["cell"].detach().clone()
    w_before = [p.detach().clone() for p in opt.weights.params]
    b = (torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,)))
    opt.step(b, b)
    assert not torch.equal(before, opt.alpha.alpha["cell"])
    assert any(not torch.equal(a, p) for a, p in zip(w_before, opt.weights.params))


def test_enas_controller_log_probs_match_choices():
    from harness.optimizers.parts.controller import Controller

    torch.manual_seed(0)
    ctrl = Controller(S5)
    choices, logp, ent = ctrl.sample(torch.Generator().manual_seed(1))
    assert set(choices) == {"cell"} and len(choices["cell"]) == 4
    _, logp2, _ = ctrl.sample(torch.Generator(), forced=choices)
    torch.testing.assert_close(logp, logp2)
    assert ent > 0
    # log-prob of a forced sequence equals the sum of per-step log-softmax entries
    total = 0.0
    x, state = ctrl.start, None
    for c in choices["cell"]:
        out, state = ctrl.lstm(x, state)
        logits = ctrl.tanh_constant * torch.tanh(ctrl.heads["cell"](out[-1, 0]) / ctrl.temperature)
        total = total + torch.log_softmax(logits, -1)[c]
        x = ctrl.embed(torch.tensor([[c]]))
    torch.testing.assert_close(logp, total)


def test_reinforce_gradient_sign_on_toy_reward():
    from harness.optimizers.enas import controller_loss

    def reinforce_loss(logp, ent, reward, baseline, entropy_weight):
        return controller_loss(logp, ent, reward, baseline, entropy_weight, 0.99)[0]
    from harness.optimizers.parts.controller import Controller

    torch.manual_seed(0)
    ctrl = Controller(S5)
    opt = torch.optim.SGD(ctrl.parameters(), lr=0.5)
    target = {"cell": [2, 2, 2, 2]}
    before = float(ctrl.sample(torch.Generator(), forced=target)[1].detach())
    for _ in range(5):
        _, logp, ent = ctrl.sample(torch.Generator(), forced=target)
        loss = reinforce_loss(logp, ent, reward=1.0, baseline=0.2, entropy_weight=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(ctrl.sample(torch.Generator(), forced=target)[1].detach()) > before
    # negative advantage pushes the other way
    _, logp, ent = ctrl.sample(torch.Generator(), forced=target)
    g_pos = torch.autograd.grad(reinforce_loss(logp, ent, 1.0, 0.2, 0.0), ctrl.heads["cell"].bias)[0]
    _, logp, ent = ctrl.sample(torch.Generator(), forced=target)
    g_neg = torch.autograd.grad(reinforce_loss(logp, ent, 0.0, 0.2, 0.0), ctrl.heads["cell"].bias)[0]
    assert torch.sign(g_pos[2]) == -torch.sign(g_neg[2])


def test_pcdarts_passes_exactly_c_over_k_channels_through_the_mixed_op():
    from search_spaces.nb201.supernet import SearchCell, channel_shuffle

    cell = SearchCell(8, affine=False, track=False, fused=False, partial=4)
    assert all(e.conv3.conv.in_channels == 2 and e.conv3.conv.out_channels == 2 for e in cell.edges)
    h = torch.randn(2, 8, 6, 6)
    seen = []
    orig = cell._eager_edges

    def spy(hp, w, src, active):
        seen.append(hp.shape[1])
        return orig(hp, w, src, active)

    cell._eager_edges = spy
    w = torch.softmax(torch.randn(6, 5), -1)
    out = cell._partial_edges(h, w, 0, None)
    assert seen == [2]
    # the bypassed 6 channels come out unchanged, interleaved by the shuffle
    y = out[0]
    unshuffled = y.view(2, 2, 4, 6, 6).transpose(1, 2).reshape(2, 8, 6, 6)
    torch.testing.assert_close(unshuffled[:, 2:], h[:, 2:])
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 4).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def test_pcdarts_edge_normalisation_and_warmup():
    from harness.optimizers.pcdarts import edge_normalisation

    beta = torch.tensor([0.3, 1.0, -1.0, 0.0, 0.5, 2.0])
    en = edge_normalisation(beta, [[0], [1, 2], [3, 4, 5]])
    torch.testing.assert_close(en[0], torch.tensor(1.0))
    torch.testing.assert_close(en[1:3], torch.softmax(beta[1:3], 0))
    torch.testing.assert_close(en[3:].sum(), torch.tensor(1.0))
    net_cfg = TINY.with_overrides(partial_channels=2)
    torch.manual_seed(0)
    opt = create_optimizer("pc-darts", S5, S5.build_supernet(net_cfg), {"partial_channels": 2, "warmup_epochs": 1},
                           epochs=3, steps_per_epoch=1, seed=0)
    b = (torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,)))
    a0 = opt.alpha.alpha["cell"].detach().clone()
    opt.on_epoch_start(0)
    opt.step(b, b)
    assert torch.equal(a0, opt.alpha.alpha["cell"])  # warm-up: weights only
    opt.on_epoch_start(1)
    opt.step(b, b)
    assert not torch.equal(a0, opt.alpha.alpha["cell"])
