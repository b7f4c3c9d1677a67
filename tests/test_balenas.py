"""BaLeNAS: Vadam (Khan et al.; the printed eqs. 17-18 as an option), the Gaussian over logits, BaLeNAS-TF."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from harness.metrics import proxies
from harness.optimizers import create_optimizer, make_config
from harness.optimizers.parts import darts_grad
from harness.optimizers.parts.vadam import VAdam, vadam_sigma, vadam_update
from search_spaces import SupernetConfig, get_space
from search_spaces.errors import ConfigError

S5 = get_space("s5")
TINY = SupernetConfig(channels=4, depth=3, in_channels=1, input_size=8, num_classes=3)


def _opt(name="balenas", epochs=10, seed=0, **over):
    torch.manual_seed(0)
    return create_optimizer(name, S5, S5.build_supernet(TINY), over, epochs=epochs, steps_per_epoch=2, seed=seed)


def _batch(seed=0, n=8):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_vadam_step_matches_hand_computation():
    beta, gamma, delta = 0.1, 0.9, 0.01
    mu, prev = torch.tensor([0.5, -1.0]), torch.tensor([0.3, -1.0])
    s, g = torch.tensor([0.1, 0.2]), torch.tensor([0.2, -0.4])
    new_mu, new_s = vadam_update(mu, prev, s, g, beta=beta, gamma=gamma, delta=delta)
    # by hand: s' = 0.9 s + 0.1 g^2
    s0, s1 = 0.9 * 0.1 + 0.1 * 0.04, 0.9 * 0.2 + 0.1 * 0.16
    assert (s0, s1) == pytest.approx((0.094, 0.196))
    m0 = 0.5 - 0.1 * (0.2 + 0.01 * 0.5) / (s0 + 0.01) + 0.9 * ((0.1 + 0.01) / (s0 + 0.01)) * (0.5 - 0.3)
    m1 = -1.0 - 0.1 * (-0.4 + 0.01 * -1.0) / (s1 + 0.01) + 0.0  # no movement last step: no momentum
    assert m0 == pytest.approx(0.4932692, abs=1e-6) and m1 == pytest.approx(-0.8009709, abs=1e-6)
    torch.testing.assert_close(new_s, torch.tensor([s0, s1]))
    torch.testing.assert_close(new_mu, torch.tensor([m0, m1]))
    # sigma^2 = 1 / (N (s + delta))
    torch.testing.assert_close(vadam_sigma(new_s, delta, 50.0) ** 2, 1 / (50.0 * (new_s + delta)))


def test_vadam_object_tracks_previous_mean_for_momentum():
    mu = {"a": torch.tensor([[1.0, 2.0]])}
    opt = VAdam(mu, beta=0.5, gamma=0.5, delta=0.1, n_data=10.0, init_s=1.0, form="eq17")
    g = {"a": torch.tensor([[1.0, -1.0]])}
    opt.step(g)  # first step: mu_{t-1} = mu_t, so no momentum
    first = torch.tensor([[1.0, 2.0]]) - 0.5 * (torch.tensor([[1.0, -1.0]]) + 0.1 * torch.tensor([[1.0, 2.0]])) / 1.1
    torch.testing.assert_close(mu["a"], first)
    opt.step(g)
    expect, _ = vadam_update(first, torch.tensor([[1.0, 2.0]]), torch.ones(1, 2), g["a"], beta=0.5, gamma=0.5,
                             delta=0.1)
    torch.testing.assert_close(mu["a"], expect)


def test_sigma_shrinks_as_s_grows():
    mu = {"a": torch.zeros(3, 4)}
    opt = VAdam(mu, beta=0.2, gamma=0.0, delta=1e-3, n_data=100.0)
    sig0 = opt.sigma()["a"]
    torch.testing.assert_close(sig0, torch.full((3, 4), 1 / math.sqrt(100 * 1e-3)))  # the prior at s = 0
    last_s, last_sig = opt.s["a"].clone(), sig0
    for _ in range(5):
        opt.step({"a": torch.full((3, 4), 2.0)})
        assert (opt.s["a"] > last_s).all() and (opt.sigma()["a"] < last_sig).all()
        last_s, last_sig = opt.s["a"].clone(), opt.sigma()["a"]


def test_vadam_draws_have_mean_mu_and_std_sigma():
    mu = {"a": torch.tensor([[1.0, -2.0, 0.5]])}
    opt = VAdam(mu, beta=0.1, gamma=0.0, delta=0.01, n_data=4.0, init_s=0.24)
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([opt.sample(gen)["a"] for _ in range(4000)])
    torch.testing.assert_close(draws.mean(0), mu["a"], atol=0.05, rtol=0)
    torch.testing.assert_close(draws.std(0), torch.full((1, 3), 1.0), atol=0.05, rtol=0)  # 1/sqrt(4 * 0.25)
    again = VAdam(mu, beta=0.1, gamma=0.0, delta=0.01, n_data=4.0, init_s=0.24)
    torch.testing.assert_close(again.sample(torch.Generator().manual_seed(3))["a"],
                               opt.sample(torch.Generator().manual_seed(3))["a"])


EQ17 = dict(update="eq17", delta=1e-3, order=1, mc_samples=1)  # the paper's printed update


def test_zero_sigma_gives_the_deterministic_preconditioned_step():
    opt = _opt(n_data=math.inf, init_s=0.5, **EQ17)
    assert all((s == 0).all() for s in opt.sigma().values())
    mu0 = {k: v.detach().clone() for k, v in opt.mu.tensors().items()}
    b = _batch()
    alpha = {k: v.clone().requires_grad_(True) for k, v in mu0.items()}
    _, _, g = darts_grad.first_order(darts_grad.cross_entropy_loss(opt.supernet, opt.mix), alpha, b)
    c = opt.config
    opt.step(b, b)
    for k in mu0:
        s1 = (1 - c.beta) * 0.5 + c.beta * g[k] ** 2
        expect = mu0[k] - c.beta * (g[k] + c.delta * mu0[k]) / (s1 + c.delta)
        torch.testing.assert_close(opt.mu.alpha[k].detach(), expect)
    # and it does not depend on the generator's state
    other = _opt(n_data=math.inf, init_s=0.5, **EQ17)
    other.generator.manual_seed(12345)
    other.step(b, b)
    torch.testing.assert_close(other.mu.alpha["cell"].detach(), opt.mu.alpha["cell"].detach())


def test_finite_n_takes_the_gradient_at_a_draw():
    b = _batch()
    a, z = _opt(), _opt(n_data=math.inf)
    a.step(b, b)
    z.step(b, b)
    assert not torch.allclose(a.mu.alpha["cell"], z.mu.alpha["cell"])
    stats = a.on_epoch_end(0)  # the trajectory's view of q: sigma and mu, mean and spread
    assert {"sigma_mean", "sigma_std", "mu_mean", "mu_std"} <= set(stats) and stats["sigma_mean"] > 0


def test_samples_are_reproducible_and_follow_q():
    opt = _opt()
    s1, s2 = opt.sample(25, np.random.default_rng(0)), opt.sample(25, np.random.default_rng(0))
    assert s1 == s2
    assert len(set(s1)) > 1  # sigma 1 around near-zero means: more than one architecture
    with torch.no_grad():
        opt.mu.alpha["cell"].copy_(torch.tensor([[0.0, 0.0, 30.0]] * 4))
    assert set(opt.sample(10, np.random.default_rng(1))) == {S5.from_index(80)}  # sep_conv everywhere


def test_balenas_tf_selection_is_the_proxy_argmax_and_reproducible():
    over = dict(tf_samples=12, proxy="snip")
    a, b = _opt("balenas-tf", epochs=1, **over), _opt("balenas-tf", epochs=1, **over)
    batch = _batch(1)
    a.on_epoch_start(0)
    b.on_epoch_start(0)
    rng_before = torch.get_rng_state()
    pick = a.select([batch])
    assert torch.equal(torch.get_rng_state(), rng_before)  # selection leaves the global RNG alone
    assert pick == a.select([batch]) == b.select([batch])
    archs, scores = a.last_tf
    assert len(archs) == 12
    want = proxies.score_architectures(S5, archs, "snip", batch, a.proxy_network_config(), seed=a.seed)
    np.testing.assert_array_equal(scores, want)
    assert pick == archs[int(np.argmax(want))]


def test_balenas_tf_uses_argmax_before_the_last_epoch():
    opt = _opt("balenas-tf", epochs=3, tf_samples=5)
    opt.on_epoch_start(0)
    assert opt.select([_batch()]) == opt.current_architecture() and opt.last_tf is None
    opt.on_epoch_start(2)
    opt.select([_batch()])
    assert opt.last_tf is not None


def test_second_order_step_and_resume_are_exact():
    b = _batch()
    a = _opt("balenas")
    a.step(b, b)
    state = copy.deepcopy(a.state_dict())  # state_dict shares the live tensors
    a.step(b, b)
    c = _opt("balenas", seed=5)
    c.load_state_dict(state)
    c.step(b, b)
    torch.testing.assert_close(c.mu.alpha["cell"], a.mu.alpha["cell"], rtol=0, atol=0)
    torch.testing.assert_close(c.vadam.s["cell"], a.vadam.s["cell"], rtol=0, atol=0)


@pytest.mark.parametrize("bad", [dict(beta=0.0), dict(gamma=1.0), dict(delta=0.0), dict(n_data=0),
                                 dict(mc_samples=0), dict(weight_mix="x"), dict(proxy="nope"),
                                 dict(selection="best"), dict(tf_when="sometimes")])
def test_config_validation(bad):
    with pytest.raises(ConfigError):
        make_config("balenas", bad)


def test_defaults():
    """The paper's headline configuration: second order, M = 3, Vadam; first order by name; TF builds on it."""
    c = make_config("balenas-tf")
    assert (c.selection, c.tf_samples, c.order, c.mc_samples, c.update) == ("proxy", 100, 2, 3, "vadam")
    b = make_config("balenas")
    assert (b.order, b.mc_samples, b.update, b.delta, b.n_data) == (2, 3, "vadam", None, None)
    assert make_config("balenas-1st").order == 1
    opt = _opt("balenas-1st")
    assert opt.n_data == 25_000 and opt.delta == pytest.approx(1 / 25_000)
    assert float(opt.sigma()["cell"].mean()) == pytest.approx(1.0)  # prior precision 1: sigma starts at 1


def test_vadam_form_on_a_two_parameter_problem():
    """Khan et al. (2018), Fig. 1, by hand for two steps with known gradients."""
    from harness.optimizers.parts.vadam import adam_form_update

    a, g1, g2, d = 0.1, 0.5, 0.9, 0.01
    mu0 = torch.tensor([0.3, -0.2], dtype=torch.float64)
    grads = [torch.tensor([0.4, 0.0], dtype=torch.float64), torch.tensor([0.2, -0.1], dtype=torch.float64)]
    mu, m, s = mu0.clone(), torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    m_ref, s_ref, mu_ref = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64), mu0.clone()
    for t, g in enumerate(grads, start=1):
        mu, m, s = adam_form_update(mu, m, s, g, t, alpha=a, gamma1=g1, gamma2=g2, delta=d)
        m_ref = g1 * m_ref + (1 - g1) * (g + d * mu_ref)
        s_ref = g2 * s_ref + (1 - g2) * g ** 2
        mu_ref = mu_ref - a * (m_ref / (1 - g1 ** t)) / ((s_ref / (1 - g2 ** t)).sqrt() + d)
        torch.testing.assert_close(mu, mu_ref, rtol=1e-14, atol=0)
    # step 1 by the numbers: m = 0.5 (0.4 + 0.003) = 0.2015, s = 0.1 * 0.16 = 0.016, mu -= 0.1 * 0.403 / (0.4 + 0.01)
    first, _, _ = adam_form_update(mu0, torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64),
                                   grads[0], 1, alpha=a, gamma1=g1, gamma2=g2, delta=d)
    assert float(first[0]) == pytest.approx(0.3 - 0.1 * 0.403 / 0.41, rel=1e-12)


def test_sigma_shrinks_where_the_gradient_is_consistent():
    """A constant gradient c on one logit and 0 on the other: after t Vadam steps s = c^2 (1 - g2^t), so
    sigma = 1 / sqrt(N (c^2 (1 - g2^t) + delta)) falls from the prior's while the other stays at it."""
    mu = {"cell": torch.zeros(1, 2, dtype=torch.float64)}
    n, d, c = 1000.0, 1e-3, 0.05
    opt = VAdam(mu, beta=1e-3, gamma=0.5, delta=d, n_data=n, form="vadam", beta2=0.99)
    prior = 1 / math.sqrt(n * d)
    for _ in range(300):
        opt.step({"cell": torch.tensor([[c, 0.0]], dtype=torch.float64)})
    sig = opt.sigma()["cell"][0]
    assert float(sig[1]) == pytest.approx(prior)
    assert float(sig[0]) == pytest.approx(1 / math.sqrt(n * (c * c * (1 - 0.99 ** 300) + d)), rel=1e-9)
    assert float(sig[0]) < 0.6 * prior


def test_runner_sets_n_to_the_search_valid_size_and_records_q(tmp_path):
    import json

    import pandas as pd

    from harness.reporting.aggregate import load_runs
    from harness.reporting.plots import plot_posterior
    from harness.run.config import RunConfig
    from harness.run.runner import SearchRun

    cfg = RunConfig(optimizer="balenas-1st", benchmark="none", epochs=2, subset=64, batch_size=16, channels=4,
                    optimizer_config={"mc_samples": 1})
    SearchRun(cfg, tmp_path).run()
    d = tmp_path / cfg.run_id()
    resolved = json.loads((d / "config.json").read_text())["resolved"]
    assert resolved["optimizer"]["n_data"] == resolved["search_split_sizes"]["valid"]
    t = pd.read_csv(d / "trajectory.csv")
    assert t[["sigma_mean", "sigma_std", "mu_mean", "mu_std"]].notna().all().all()
    assert plot_posterior(load_runs([d]), tmp_path / "q.png").is_file()



def test_vadam_with_three_draws_on_a_two_parameter_problem():
    """Khan et al.'s Vadam (Fig. 1) with M = 3 Monte-Carlo draws, written plainly in float64 on
    f(theta) = 0.5 theta^T A theta (gradient A theta at each draw): g is the mean of the draws' gradients,
    s averages their squares."""
    import math

    from harness.optimizers.parts.vadam import VAdam

    a = torch.tensor([[2.0, 0.3], [0.3, 0.5]], dtype=torch.float64)
    mu = {"w": torch.tensor([1.0, -2.0], dtype=torch.float64)}
    opt = VAdam(mu, beta=0.1, gamma=0.9, delta=0.01, n_data=10.0, beta2=0.999)
    gen, ref_gen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    m_ref, s_ref, mu_ref = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64), mu["w"].clone()
    for t in range(1, 6):
        draws = [opt.sample(gen)["w"] for _ in range(3)]
        grads = [a @ d for d in draws]
        opt.step({"w": sum(grads) / 3}, {"w": sum(g * g for g in grads) / 3})
        # the plain algorithm
        sigma = 1.0 / torch.sqrt(10.0 * (s_ref + 0.01))
        ref_draws = [mu_ref + sigma * torch.randn(2, generator=ref_gen, dtype=torch.float64) for _ in range(3)]
        ref_grads = [a @ d for d in ref_draws]
        g_hat = sum(ref_grads) / 3
        s_hat = sum(g * g for g in ref_grads) / 3
        m_ref = 0.9 * m_ref + 0.1 * (g_hat + 0.01 * mu_ref)
        s_ref = 0.999 * s_ref + 0.001 * s_hat
        mu_ref = mu_ref - 0.1 * (m_ref / (1 - 0.9 ** t)) / (torch.sqrt(s_ref / (1 - 0.999 ** t)) + 0.01)
        torch.testing.assert_close(mu["w"], mu_ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(opt.s["w"], s_ref, rtol=1e-12, atol=1e-14)
    assert math.isfinite(float(mu["w"].sum()))


def test_the_moving_sigma_plan_and_what_n_does_to_sigma():
    """docs/plans/balenas-moving-sigma.yaml: balenas at N = 25,000 and 2,500,000; by the closed form
    sigma = (N s + 1)^(-1/2) (delta = 1/N), sigma > 0.9 needs an RMS gradient below about 3e-3 at N = 25,000."""
    import math
    from pathlib import Path

    from harness.optimizers.parts.vadam import vadam_sigma
    from harness.run.sweep import Plan

    plan = Path(__file__).resolve().parents[1] / "docs" / "plans" / "balenas-moving-sigma.yaml"
    runs = Plan.load(plan).expand()
    assert {r.optimizer for r in runs} == {"balenas"} and {r.protocol for r in runs} == {"nb201/balenas"}
    assert sorted({r.optimizer_values()["n_data"] for r in runs}) == [25000.0, 2500000.0]
    for n, rms, above in ((25000.0, 3.0e-3, True), (25000.0, 3.2e-3, False)):
        s = torch.tensor(rms ** 2)
        assert (float(vadam_sigma(s, 1 / n, n)) > 0.9) is above
    assert float(vadam_sigma(torch.tensor(1e-6), 1 / 2.5e6, 2.5e6)) == pytest.approx(1 / math.sqrt(3.5))
