"""VIM-NAS: phi on fixed noise gives the architecture mean; A = phi(eps) + xi; both theta and phi learn."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from harness.optimizers import create_optimizer, make_config
from harness.optimizers.vimnas import ConvReLUBN, LatentArchitecture
from search_spaces import SupernetConfig, get_space, list_spaces
from search_spaces.errors import ConfigError

S5 = get_space("s5")
TINY = SupernetConfig(channels=4, depth=3, in_channels=1, input_size=8, num_classes=3)


def _opt(seed=0, **over):
    torch.manual_seed(0)
    return create_optimizer("vim-nas", S5, S5.build_supernet(TINY), over, epochs=2, steps_per_epoch=2, seed=seed)


def _batch(seed=0, n=8):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def _arch_only(space_name: str, **over):
    # current_architecture / sample never touch the supernet: a stand-in keeps this cheap for every space
    return create_optimizer("vim-nas", get_space(space_name), nn.Linear(1, 1), over, epochs=1, steps_per_epoch=1,
                            seed=0)


@pytest.mark.parametrize("space_name", list_spaces())
def test_phi_output_matches_every_group_shape(space_name):
    space = get_space(space_name)
    latent = LatentArchitecture(space, (14,), 3, 3, torch.Generator().manual_seed(0))
    out = latent()
    assert {k: tuple(v.shape) for k, v in out.items()} == {g.name: g.shape for g in space.param_groups}
    for i, g in enumerate(space.param_groups):
        assert tuple(getattr(latent, f"eps_g{i}").shape) == (1, 3, *g.shape)


def test_phi_is_two_conv_relu_bn_blocks_3_14_1():
    phi = _opt().latent.phi["g0"]
    assert len(phi) == 2 and all(isinstance(b, ConvReLUBN) for b in phi)
    convs = [b[0] for b in phi]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(3, 14, (3, 3)), (14, 1, (3, 3))]
    assert isinstance(phi[0][1], nn.ReLU) and isinstance(phi[0][2], nn.BatchNorm2d)
    small, large = _opt(phi_size="small").latent.phi["g0"], _opt(phi_size="large").latent.phi["g0"]
    assert len(small) == 1 and len(large) == 5  # VIM-NAS-L: five Conv-ReLU-BN blocks


def test_zero_xi_makes_the_sampler_deterministic():
    point = _opt(point_estimate=True)
    xi = point.draw_noise()
    assert all((v == 0).all() for v in xi.values())
    a1, a2 = point.sample_weights(point.draw_noise()), point.sample_weights(point.draw_noise())
    mean = point.latent()
    for k in mean:
        assert torch.equal(a1[k], a2[k]) and torch.equal(a1[k], mean[k])
    noisy = _opt()
    b1, b2 = noisy.sample_weights(noisy.draw_noise()), noisy.sample_weights(noisy.draw_noise())
    assert not torch.equal(b1["cell"], b2["cell"])
    # the noise is N(0, 1) around phi(eps)
    draws = torch.stack([noisy.draw_noise()["cell"] for _ in range(2000)])
    assert abs(float(draws.mean())) < 0.05 and abs(float(draws.std()) - 1) < 0.05


def test_phi_epsilon_is_fixed_and_phi_deterministic():
    opt = _opt()
    with torch.no_grad():
        m1, m2 = opt.latent()["cell"], opt.latent()["cell"]
    assert torch.equal(m1, m2)
    assert torch.equal(_opt().latent.eps_g0, opt.latent.eps_g0)
    assert not torch.equal(_opt(seed=1).latent.eps_g0, opt.latent.eps_g0)


@pytest.mark.parametrize("arch_data", ["valid", "train"])
def test_one_step_changes_theta_and_phi(arch_data):
    opt = _opt(arch_data=arch_data)
    theta = [p.detach().clone() for p in opt.weights.params]
    phi = [p.detach().clone() for p in opt.latent.parameters()]
    opt.on_epoch_start(0)
    out = opt.step(_batch(0), _batch(1))
    assert all(torch.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, p) for a, p in zip(theta, opt.weights.params))
    assert any(not torch.equal(a, p) for a, p in zip(phi, opt.latent.parameters()))


def test_derived_architecture_follows_phi():
    opt = _opt()
    with torch.no_grad():  # make the BN of the last block emit a chosen map
        last_bn = opt.latent.phi["g0"][-1][2]
        last_bn.weight.zero_()
        last_bn.bias.zero_()
    # constant output -> argmax ties go to op 0 on every edge
    assert opt.current_architecture() == S5.from_index(0)


@pytest.mark.parametrize("space_name", list_spaces())
def test_derived_and_sampled_architectures_valid_in_every_space(space_name):
    space = get_space(space_name)
    for over in ({}, {"point_estimate": True}):
        opt = _arch_only(space_name, **over)
        space.check(opt.current_architecture())
        for a in opt.sample(5, np.random.default_rng(0)):
            space.check(a)
        assert opt.sample(5, np.random.default_rng(0)) == opt.sample(5, np.random.default_rng(0))


def test_resume_is_exact():
    b = _batch()
    a = _opt()
    a.step(b, b)
    state = copy.deepcopy(a.state_dict())
    a.step(b, b)
    c = _opt(seed=3)
    c.load_state_dict(state)
    c.step(b, b)
    for p, q in zip(a.latent.parameters(), c.latent.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("bad", [dict(phi_size="huge"), dict(arch_data="test"), dict(kernel=2),
                                 dict(noise_channels=0), dict(arch_betas=(0.5, 1.0))])
def test_config_validation(bad):
    with pytest.raises(ConfigError):
        make_config("vim-nas", bad)


def test_vim_nas_dropout_sample_and_objective_against_a_plain_computation():
    """VIM-NAS-Dropout (reconstruction): phi gives a mean and a log-std channel, A = mu + exp(s) o xi with
    xi ~ N(0, 1) from the optimizer's generator, and phi descends the validation cross-entropy under softmax(A)
    (the same objective as VIM-NAS): float64, one step, phi's gradient against autograd on the plain formula."""
    torch.manual_seed(0)
    net = S5.build_supernet(TINY).double()
    opt = create_optimizer("vim-nas-dropout", S5, net, {}, epochs=2, steps_per_epoch=2, seed=1)
    opt.latent.double()
    assert all(o.shape[0] == 2 for o in opt.latent.outputs().values())  # mean and log-std channels
    train, valid = (x.double() if x.is_floating_point() else x for x in _batch(1)), None
    train = tuple(train)
    valid = tuple(x.double() if x.is_floating_point() else x for x in _batch(2))
    seen = []
    opt._phi_update = lambda grads: seen.append([None if g is None else g.detach().clone() for g in grads])
    state = opt.generator.get_state()
    ref_latent = copy.deepcopy(opt.latent)
    opt.step(train, valid)
    # the plain computation: the same xi draw, the weight step first (bilevel), then phi's gradient
    gen = torch.Generator().set_state(state)
    xi = {g.name: torch.randn(g.shape, generator=gen).double() for g in S5.param_groups}
    outs = ref_latent.outputs()
    a = {k: outs[k][0] + torch.exp(outs[k][1]) * xi[k] for k in outs}
    loss = nn.functional.cross_entropy(net(valid[0], {k: torch.softmax(v, -1) for k, v in a.items()}), valid[1])
    ref = torch.autograd.grad(loss, list(ref_latent.parameters()), allow_unused=True)
    for got, want in zip(seen[0], ref):
        if want is None:
            assert got is None
        else:
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    last = list(ref_latent.phi.values())[0][-1][0]  # the last conv: its log-std output channel learns too
    idx = [i for i, p in enumerate(ref_latent.parameters()) if p is last.weight][0]
    assert seen[0][idx][1].abs().sum() > 0


def test_vim_nas_p_draws_no_noise_and_both_variants_run(tmp_path):
    opt = create_optimizer("vim-nas-p", S5, S5.build_supernet(TINY), {}, epochs=1, steps_per_epoch=1, seed=0)
    assert all(torch.equal(v, torch.zeros_like(v)) for v in opt.draw_noise().values())
    with pytest.raises(ConfigError):
        create_optimizer("vim-nas-dropout", S5, S5.build_supernet(TINY), {"point_estimate": True}, epochs=1,
                         steps_per_epoch=1, seed=0)
    from harness.reporting.plots import plot_arch_weights
    from harness.run.config import RunConfig
    from harness.run.runner import SearchRun

    for name in ("vim-nas-p", "vim-nas-dropout"):
        run = SearchRun(RunConfig(optimizer=name, epochs=2, seed=0), tmp_path)
        final = run.run()
        assert final["status"] == "finished"
        png = plot_arch_weights(run.dir, tmp_path / f"{name}.png")  # Figures 7-9: anytime architecture weights
        assert png.is_file()
