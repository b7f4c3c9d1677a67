"""Conformance of perturbations, controller updates and candidate rankings with the official semantics.

Each reference is re-implemented here in plain loops (float64, tiny NB-201
supernet): SDARTS's clip and PGD (SmoothDARTS ``attacker/perturb.py``), ENAS's
``train_controller`` (AutoDL ``exps/NAS-Bench-201-algos/ENAS.py``), SETN's
``return_topK`` and the per-candidate scoring of ``search_find_best`` /
``get_best_arch`` (AutoDL ``RANDOM-NAS.py``, ``SETN.py``).
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_conformance_gradients import NB201, _batch, _make, _net, _ref_logits

from harness.optimizers import create_optimizer, sdarts
from harness.optimizers.parts.candidates import SelectionBatches
from harness.optimizers.parts.topk import top_k

TOL = dict(rtol=1e-9, atol=1e-11)


def _ref_clip(w: torch.Tensor) -> torch.Tensor:
    """SmoothDARTS ``Network.clip``, row by row."""
    out = w.clone()
    for line in out:
        top = int(line.argmax())
        line.clamp_(0, 1)
        if float(line.sum()) == 0.0:
            line[top] = 1.0
        line.div_(line.sum())
    return out


def test_clip_rows_matches_reference_on_edge_cases():
    from harness.optimizers.parts.perturb import clip_rows

    w = torch.tensor([[-0.2, 0.5, 1.4], [-0.1, -0.3, -0.05], [0.2, 0.3, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(clip_rows(w), _ref_clip(w), **TOL)


def _capture(monkeypatch, name: str):
    """Wrap ``sdarts.<name>``: record its inputs (and the supernet as it was) and its output."""
    calls = []
    real = getattr(sdarts, name)

    def wrapper(weights, *args):
        opt_net = wrapper.net
        calls.append({"clean": {k: v.clone() for k, v in weights.items()}, "args": args,
                      "gen": args[-1].get_state(), "net": copy.deepcopy(opt_net), "training": opt_net.training})
        out = real(weights, *args)
        calls[-1]["out"] = {k: v.detach().clone() for k, v in out.items()}
        return out

    monkeypatch.setattr(sdarts, name, wrapper)
    return calls, wrapper


def test_sdarts_rs_perturbation(monkeypatch):
    calls, wrapper = _capture(monkeypatch, "random_smoothing")
    opt = _make("sdarts-rs")
    wrapper.net = opt.supernet
    opt.on_epoch_start(2)
    opt.step(_batch(1), _batch(2))
    c = calls[0]
    eps = 0.03 + (0.3 - 0.03) * 2 / 4
    assert c["args"][0] == pytest.approx(eps)
    clean = c["clean"]["cell"]
    gen = torch.Generator().set_state(c["gen"])
    noise = torch.rand(clean.shape, generator=gen, dtype=torch.float64) * 2 * eps - eps
    torch.testing.assert_close(c["out"]["cell"], _ref_clip(clean + noise), **TOL)


def _ref_pgd(net, x, y, clean, eps, steps, gen):
    """SmoothDARTS ``Linf_PGD_alpha``: eval mode, random start, signed steps, projection, clip, keep if worse."""
    net.eval()

    def loss(a):
        return F.cross_entropy(_ref_logits(net, x, a), y)

    with torch.no_grad():
        before = loss(clean)
    p = _ref_clip(clean + (torch.rand(clean.shape, generator=gen, dtype=torch.float64) * 2 - 1) * eps)
    for _ in range(steps):
        a = p.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(-loss(a), a)  # Linf_SGD on the negated loss
        p = a.detach() - (2 * eps / steps) * torch.sign(g)
        p = _ref_clip(clean + (p - clean).clamp(-eps, eps))
    with torch.no_grad():
        after = loss(p)
    return clean if before > after else p


@pytest.mark.parametrize("epoch", [0, 3])
def test_sdarts_adv_perturbation(monkeypatch, epoch):
    calls, wrapper = _capture(monkeypatch, "pgd_linf")
    opt = _make("sdarts-adv", net=_net(track=True))  # tracked BN: eval and train mode differ
    wrapper.net = opt.supernet
    opt.on_epoch_start(epoch)
    train = _batch(1)
    opt.step(train, _batch(2))
    c = calls[0]
    assert not c["training"] and opt.supernet.training  # the attack ran in eval mode, train mode restored
    eps = 0.03 + (0.3 - 0.03) * epoch / 4
    ref = _ref_pgd(c["net"], train[0], train[1], c["clean"]["cell"], eps, 7, torch.Generator().set_state(c["gen"]))
    torch.testing.assert_close(c["out"]["cell"], ref, **TOL)


class ListStream:
    """A selection stream over fixed batches: ``restart`` goes back to the first one."""

    def __init__(self, batches):
        self.batches, self.i = batches, 0

    def restart(self):
        self.i = 0

    def next(self):
        b = self.batches[self.i % len(self.batches)]
        self.i += 1
        return b

    def __iter__(self):
        while True:
            yield self.next()


def _ref_pick(net, archs, batches):
    """AutoDL: candidate i on batch i (network.eval()), np.argmax over top-1 accuracies."""
    net.eval()
    accs = []
    with torch.no_grad():
        for a, (x, y) in zip(archs, itertools.cycle(batches)):
            w = NB201.one_hot(a)["cell"].double()
            accs.append(float((_ref_logits(net, x, w).argmax(-1) == y).double().mean()))
    return archs[int(np.argmax(accs))]


def test_rsws_scores_each_candidate_on_its_own_batch():
    opt = create_optimizer("rsws", NB201, _net(), {"n_candidates": 9}, epochs=2, steps_per_epoch=1, seed=0)
    batches = [_batch(10 + i, n=12) for i in range(4)]  # 9 candidates wrap around 4 batches
    state = copy.deepcopy(opt.rng.bit_generator.state)
    picked = opt.select(SelectionBatches([], ListStream(batches)))
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    cands = [NB201.sample(rng) for _ in range(9)]
    assert picked == _ref_pick(copy.deepcopy(opt.supernet), cands, batches)


def test_setn_top_k_equals_brute_force_ranking():
    logits = {"cell": torch.randn(6, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)}
    logp = torch.log_softmax(logits["cell"], -1)
    scored = []
    for arch in NB201.enumerate():  # all 15,625, as return_topK
        scored.append((float(sum(logp[e, k] for e, k in enumerate(arch.choices))), arch))
    ref = [a for _, a in sorted(scored, key=lambda t: -t[0])[:100]]
    assert top_k(NB201, logits, 100) == ref


def test_setn_selection_scores_the_top_k_each_on_its_own_batch():
    opt = _make("setn", n_candidates=7)
    batches = [_batch(20 + i, n=12) for i in range(3)]
    picked = opt.select(SelectionBatches([], ListStream(batches)))
    logp = torch.log_softmax(opt.alpha.alpha["cell"].detach(), -1)
    ranked = sorted(NB201.enumerate(), key=lambda a: -float(sum(logp[e, k] for e, k in enumerate(a.choices))))
    assert picked == _ref_pick(copy.deepcopy(opt.supernet), ranked[:7], batches)


def test_enas_controller_update_matches_train_controller():
    over = {"controller_train_steps": 3, "controller_num_aggregate": 2, "n_candidates": 2, "n_candidates_epoch": 2}
    opt = create_optimizer("enas", NB201, _net(), over, epochs=3, steps_per_epoch=1, seed=0)
    opt.controller.double()
    opt.c_opt = torch.optim.Adam(opt.controller.parameters(), lr=1e-3, betas=(0.0, 0.999), eps=1e-3)
    batches = [_batch(30 + i, n=10) for i in range(4)]
    opt.valid_stream = ListStream(batches)
    ref_ctrl = copy.deepcopy(opt.controller)
    ref_opt = torch.optim.Adam(ref_ctrl.parameters(), lr=1e-3, betas=(0.0, 0.999), eps=1e-3)
    chosen = []
    real_sample = opt.controller.sample

    def sample(gen, forced=None):
        out = real_sample(gen, forced)
        if torch.is_grad_enabled():
            chosen.append(out[0])
        return out

    opt.controller.sample = sample
    ref_net = copy.deepcopy(opt.supernet).eval()
    baseline, k = None, 0
    for epoch in range(2):
        opt.on_epoch_start(epoch)
        opt.on_epoch_end(epoch)
        ref_opt.zero_grad()
        b_epoch = baseline
        for step in range(6):
            choices = chosen[k]
            x, y = batches[k % 4]
            k += 1
            _, log_prob, entropy = ref_ctrl.sample(torch.Generator(), forced=choices)
            w = F.one_hot(torch.tensor(choices["cell"]), 5).double()
            with torch.no_grad():
                acc = float((_ref_logits(ref_net, x, w).argmax(-1) == y).double().mean())
            reward = acc + 1e-4 * entropy
            b = torch.tensor(acc, dtype=torch.float64) if b_epoch is None else b_epoch - (1 - 0.99) * (b_epoch - reward)
            (-log_prob * (reward - b) / 2).backward()
            if (step + 1) % 2 == 0:
                torch.nn.utils.clip_grad_norm_(ref_ctrl.parameters(), 5.0)
                ref_opt.step()
                ref_opt.zero_grad()
        baseline = float(b.detach())
        assert opt.baseline == pytest.approx(baseline, rel=1e-12)
    for p, q in zip(opt.controller.parameters(), ref_ctrl.parameters()):
        torch.testing.assert_close(p, q, **TOL)


def test_enas_selection_sample_counts():
    over = {"controller_train_steps": 1, "controller_num_aggregate": 1, "n_candidates": 5, "n_candidates_epoch": 2}
    opt = create_optimizer("enas", NB201, _net(), over, epochs=3, steps_per_epoch=1, seed=0)
    seen = []
    opt.score_architectures = lambda archs, b, per_candidate=False: (seen.append((len(archs), per_candidate))
                                                                    or torch.zeros(len(archs)))
    for epoch in range(3):
        opt.on_epoch_start(epoch)
        opt.select([_batch(1)])
    assert seen == [(2, True), (2, True), (5, True)]  # 10 per epoch, 100 after the last (scaled down)


def test_pgd_keeps_the_clean_weights_when_the_attack_does_not_raise_the_loss():
    from harness.optimizers.parts.perturb import pgd_linf

    clean = {"cell": torch.softmax(torch.randn(4, 3, generator=torch.Generator().manual_seed(0),
                                               dtype=torch.float64), -1)}
    peak = lambda a: -((a["cell"] - clean["cell"]) ** 2).sum()  # noqa: E731  (maximal at the clean point)
    out = pgd_linf(clean, peak, 0.1, 7, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out["cell"], clean["cell"], rtol=0, atol=0)
    # and a loss the attack can raise gives a different, clipped point
    lin = lambda a: (a["cell"] * torch.arange(3.0, dtype=torch.float64)).sum()  # noqa: E731
    out = pgd_linf(clean, lin, 0.1, 7, torch.Generator().manual_seed(1))
    assert lin(out) > lin(clean) and (out["cell"] >= 0).all()


def test_drnas_warm_up_per_stage_as_the_darts_space_script():
    """DrNAS DARTS-space/train_search.py: ``train(..., e)`` gets the stage's own epoch and calls architect.step
    only when ``e >= 10``; stages are 25 epochs. Architecture parameters must not move in epochs 0-9 and 25-34,
    and must move in 10-24 and 35-49."""
    opt = create_optimizer("drnas", NB201, _net(), {"warmup_epochs": 10, "stage_epochs": 25}, epochs=50,
                           steps_per_epoch=1, seed=0)
    for p in opt.alpha.tensors().values():  # float64 like the conformance supernet
        p.data = p.data.double()
    moved = []
    for epoch in range(50):
        opt.on_epoch_start(epoch)
        before = {k: v.detach().clone() for k, v in opt.alpha.tensors().items()}
        opt.step(_batch(1), _batch(2))
        moved.append(any(not torch.equal(before[k], v) for k, v in opt.alpha.tensors().items()))
    expect = [(e % 25) >= 10 for e in range(50)]
    assert moved == expect


def test_sdarts_adv_attacks_with_running_statistics_as_the_official_supernets():
    """SDARTS's supernets use BatchNorm2d(affine=False), which keeps track_running_stats=True, so the PGD
    attack's model.eval() normalises with running statistics; SDARTS-RS (no eval mode) is unchanged."""
    from harness.data import load_dataset
    from harness.run.build import supernet_config
    from harness.run.config import RunConfig

    splits = load_dataset("digits", None)
    from search_spaces import get_space

    s1 = get_space("s1")  # S1-S4 leave BN tracking to the optimizer (NB-201's presets track for every method)
    for opt, tracked in (("sdarts-adv", True), ("sdarts-rs", False)):
        run = RunConfig(space="s1", dataset="digits", optimizer=opt, benchmark="none")
        net = s1.build_supernet(supernet_config(run, s1, splits))
        cells = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d) and not m.affine]
        assert cells and all(m.track_running_stats == tracked for m in cells), opt
    run = RunConfig(space="s1", dataset="digits", optimizer="sdarts-adv", benchmark="none",
                    optimizer_config={"attack_bn": "batch"})
    net = s1.build_supernet(supernet_config(run, s1, splits))
    assert not any(m.track_running_stats for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)
                   and not m.affine)
