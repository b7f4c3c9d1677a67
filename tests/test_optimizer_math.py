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
    opt = _opt("drnas")
    with torch.no_grad():
        opt.alpha.alpha["cell"].zero_()  # ELU(0) + 1 = 1 = the prior
    assert float(opt.regulariser(opt.alpha.tensors())) == 0.0
    with torch.no_grad():
        opt.alpha.alpha["cell"].fill_(1.0)
    assert float(opt.regulariser(opt.alpha.tensors())) > 0


def test_sdarts_adv_stays_in_ball_and_increases_loss():
    torch.manual_seed(0)
    net = S5.build_supernet(TINY)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    clean = {"cell": torch.softmax(torch.randn(4, 3), -1)}
    loss_fn = lambda w: F.cross_entropy(net(x, w), y)  # noqa: E731
    eps = 0.1
    adv = pgd_linf(clean, loss_fn, eps, 7, torch.Generator().manual_seed(0))
    assert (adv["cell"] - clean["cell"]).abs().max() <= eps + 1e-6
    with torch.no_grad():
        assert loss_fn(adv) > loss_fn(clean)
    rs = random_smoothing(clean, eps, torch.Generator().manual_seed(0))
    assert 0 < (rs["cell"] - clean["cell"]).abs().max() <= eps


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
