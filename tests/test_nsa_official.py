"""NSA against thudzj/NSA's semantics, re-implemented plainly here: the ER pool, a stage's wiring and
learned aggregation, architecture-conditional BN, the step schedule, the official evaluation protocol."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from harness.analysis.nsa import UNSEEN_ER_SEEDS, NSAAnalysisConfig, analyze_pool
from harness.analysis.oneshot_eval import train_supernet
from harness.cli import main
from harness.optimizers import create_optimizer
from harness.optimizers.parts.arch_conditional import batch_norms
from harness.run.config import RunConfig
from search_spaces import get_space
from search_spaces.randwire import ENTRIES, NUM_NODES
from search_spaces.randwire.network import Stage, wiring

TINY = get_space("randwire").default_config().with_overrides(channels=4, num_classes=3, in_channels=1, input_size=8)


def _official_adjacency(seed: int, arch_p: float = 0.7) -> list[np.ndarray]:
    # models/wrn_r.py WRN.__init__: one RandomState per seed, three stages drawn in turn
    rng = np.random.RandomState(seed)
    n = NUM_NODES
    return [np.tril(rng.rand(n + 1, n + 1) > arch_p, -1).astype(int) + np.eye(n + 1, dtype=int) for _ in range(3)]


@pytest.mark.parametrize("seed", [1, 2, 5, 50500])
def test_er_pool_member_is_the_official_wiring(seed):
    space = get_space("randwire")
    got = space.adjacency(space.er_architecture(seed))
    for a, b in zip(got, _official_adjacency(seed)):
        np.testing.assert_array_equal(a, b)
    assert space.from_str(space.to_str(space.er_architecture(seed))) == space.er_architecture(seed)


def test_stage_equals_official_mean_aggregation_with_sigmoid_gates():
    torch.manual_seed(0)
    space = get_space("randwire")
    adj = _official_adjacency(3)[0]
    gate = torch.randn(NUM_NODES + 1, NUM_NODES + 1, dtype=torch.float64)  # official mean_weight
    stage = Stage(3, TINY).double().eval()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    # ours: the pool member's one-hot rows times sigmoid(gate) of each entry
    oh = space.one_hot(space.er_architecture(3))["stage1"].double()
    rows = torch.tensor([i for i, _ in ENTRIES]), torch.tensor([j for _, j in ENTRIES])
    got = stage(x, wiring(oh * torch.sigmoid(gate[rows])[:, None]))
    # official Stage.forward: mask = adj / adj.sum(row) * sigmoid(mean_weight)
    a = torch.tensor(adj, dtype=torch.float64)
    mask = a / a.sum(1, keepdim=True) * torch.sigmoid(gate)
    outs = [x]
    for i in range(NUM_NODES):
        outs.append(stage.nodes[i](sum(outs[j] * mask[i, j] for j in range(i + 1))))
    want = sum(outs[j] * mask[-1, j] for j in range(NUM_NODES + 1))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def _nsa_id(seed: int = 0):
    space = get_space("randwire")
    torch.manual_seed(seed)
    net = space.build_supernet(TINY).double()
    opt = create_optimizer("nsa", space, net, {"mode": "nsa-id", "pool": "er", "pool_size": 3}, epochs=1,
                           steps_per_epoch=1, seed=0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in [*opt.cond_bn.gamma, *opt.cond_bn.beta, *opt.gains.parameters()]:
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
        for m in batch_norms(net):  # distinct running statistics, so eval mode is not the identity
            m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64))
            m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=torch.float64) + 0.5)
    return space, net, opt


def test_conditional_bn_equals_per_architecture_bn_layers():
    space, net, opt = _nsa_id()
    net.eval()  # running statistics: examples are independent, so per-example ids = per-architecture networks
    ids = torch.tensor([2, 0, 1, 2])
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad(), opt.cond_bn.using(ids):
        got = net(x, opt.pool_weights(ids))
    opt.cond_bn.detach()
    for i, a in enumerate(ids.tolist()):
        # a plain network for architecture a: every BN carries (gamma[a], beta[a]) as its own affine
        ref = copy.deepcopy(net)
        for k, m in enumerate(batch_norms(ref)):
            with torch.no_grad():
                m.weight.copy_(opt.cond_bn.gamma[k][a])
                m.bias.copy_(opt.cond_bn.beta[k][a])
        gates = {s: torch.sigmoid(opt.gains.gain[s][a]).detach() for s in opt.gains.gain}
        w = {s: v * gates[s][:, None] for s, v in space.one_hot(opt.pool[a]).items()}
        with torch.no_grad():
            torch.testing.assert_close(got[i:i + 1], ref(x[i:i + 1], {s: v.double() for s, v in w.items()}),
                                       rtol=1e-10, atol=1e-10)


def test_nsa_id_state_round_trips():
    space, net, opt = _nsa_id()
    state = copy.deepcopy(opt.state_dict())
    _, net2, opt2 = _nsa_id(seed=5)
    opt2.load_state_dict(state)
    ids = torch.tensor([0, 1, 2])
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    net.eval(), net2.eval()
    with torch.no_grad(), opt.cond_bn.using(ids), opt2.cond_bn.using(ids):
        torch.testing.assert_close(net(x, opt.pool_weights(ids)), net2(x, opt2.pool_weights(ids)))


def test_step_schedule_is_the_official_adjust_learning_rate():
    space = get_space("randwire")
    net = space.build_supernet(TINY)
    opt = create_optimizer("nsa", space, net, {"lr_milestones": [90, 180, 240], "lr_gamma": 0.2, "w_lr": 0.1},
                           epochs=300, steps_per_epoch=1, seed=0)

    def official(epoch):  # main_s.py adjust_learning_rate
        lr = 0.1
        for gamma, step in zip([0.2] * 3, [90, 180, 240]):
            if epoch >= step:
                lr *= gamma
            else:
                break
        return lr

    for epoch in (0, 89, 90, 179, 180, 239, 240, 299):
        opt.on_epoch_start(epoch)
        assert opt.weights.lr == pytest.approx(official(epoch), rel=1e-12)
        assert opt.gain_trainer.lr == pytest.approx(official(epoch), rel=1e-12)


def test_official_analysis_defaults_and_both_bn_modes(tmp_path):
    assert (NSAAnalysisConfig().n_seen, NSAAnalysisConfig().n_unseen) == (100, 100)
    assert NSAAnalysisConfig().test_examples is None and NSAAnalysisConfig().bn == "running"
    run = RunConfig(space="randwire", dataset="digits", benchmark="none", optimizer="nsa", epochs=1, batch_size=16,
                    subset=64, channels=4, optimizer_config={"pool_size": 3, "mode": "nsa-id"})
    assert run.optimizer_values()["pool"] == "er"  # the nsa family's preset
    trained, splits, _ = train_supernet(run)
    assert all(m.track_running_stats for m in batch_norms(trained.supernet))  # main_s.py forces it
    space = trained.space
    assert trained.pool == [space.er_architecture(s) for s in (1, 2, 3)]
    cfg = NSAAnalysisConfig(n_unseen=2, test_examples=32, train_examples=32, bn_batches=1, batch_size=16)
    res = analyze_pool(trained, cfg, splits, out_dir=tmp_path)
    rows = res["rows"]
    unseen = [r["arch"] for r in rows if not r["seen"]]
    er = {space.to_str(space.er_architecture(s)) for s in UNSEEN_ER_SEEDS}
    assert len(unseen) == 2 and set(unseen) <= er
    cmp = res["summary"]["bn_compare"]
    assert set(cmp) == {"running", "recalibrate"}
    assert cmp["running"]["test_acc_seen"] == pytest.approx(res["summary"]["test_acc_seen"])
    assert any(r["test_acc"] != r["test_acc_recalibrate"] for r in rows)  # the two modes differ


def test_er_pool_needs_a_wiring_space(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--space", "s5", "--dataset", "digits", "--optimizer", "nsa", "--set", "pool=er",
              "--epochs", "1", "--subset", "64", "--benchmark", "none", "--out", "/tmp/never-written"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "randwire" in err[0]
