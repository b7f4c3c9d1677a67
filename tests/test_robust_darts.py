"""RobustDARTS variants: ES rule, DARTS-ES / DARTS-ADA behaviour, drop-path schedule, R-DARTS selection."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from harness.optimizers import create_optimizer
from harness.optimizers.rdarts import DP_GRID, L2_GRID, grid, run_summary, select
from harness.optimizers.robust_darts import EarlyStopRule
from harness.run.config import RunConfig
from harness.run.runner import SearchRun
from search_spaces import get_space
from search_spaces.errors import ConfigError

FAST = {"order": 1, "eigen_every": 1, "es_window": 3, "es_delta": 2, "es_start_epoch": 2}


def _feed(rule: EarlyStopRule, epochs: list[int], evs: list[float]) -> tuple[int, int] | None:
    """Replay the rule after every evaluation; (epoch of the triggering evaluation, stop epoch)."""
    for m in range(len(evs)):
        stop = rule.check(epochs[:m + 1], evs[:m + 1])
        if stop is not None:
            return epochs[m], stop
    return None


def test_es_rule_on_a_synthetic_eigenvalue_sequence():
    rule = EarlyStopRule()  # window 5, delta 4, factor 1.3, start epoch 10
    epochs = list(range(0, 50, 2))
    # flat, then doubling from epoch 26: the centred average over 5 evaluations passes 1.3x the one
    # 4 evaluations earlier once two doubled values are in its window (centre epoch 24, evaluated at 28)
    evs = [1.0 if e < 26 else 2.0 for e in epochs]
    assert _feed(rule, epochs, evs) == (28, 16)
    # a slow drift never triggers
    assert _feed(rule, epochs, [1.0 + 0.01 * i for i in range(len(epochs))]) is None
    # an early jump is ignored until the compared epoch reaches the start epoch, then the ratio is gone
    early = [1.0 if e < 4 else 2.0 for e in epochs]
    assert _feed(rule, epochs, early) is None
    # the left edge of the window is cut at the first evaluation
    assert rule.local_average([1.0, 2.0, 3.0, 4.0], 0) == pytest.approx(2.0)
    with pytest.raises(ConfigError):
        EarlyStopRule(factor=1.0)


def _tiny(name: str, overrides: dict, space: str = "s5", epochs: int = 10):
    torch.manual_seed(0)
    sp = get_space(space)
    in_ch = 1 if space == "s5" else 3
    cfg = sp.default_config().with_overrides(channels=4, depth=3, input_size=8, in_channels=in_ch, num_classes=10)
    opt = create_optimizer(name, sp, sp.build_supernet(cfg), overrides, epochs=epochs, steps_per_epoch=1, seed=0)
    gen = torch.Generator().manual_seed(1)

    def batch():
        return torch.randn(8, in_ch, 8, 8, generator=gen), torch.randint(0, 10, (8,), generator=gen)

    return opt, batch


def _scripted(opt, values: dict[int, float]):
    """Replace the Hessian by a script: search epoch -> eigenvalue."""
    opt.compute_eigenvalue = lambda: values[opt.search_epoch]


def test_darts_es_returns_the_architecture_of_the_stop_epoch():
    opt, batch = _tiny("darts-es", {**FAST, "arch_lr": 0.5})
    # evaluations every epoch; window 3, delta 2: at epoch 5 the average centred at 4 (epochs 3-5) is
    # compared with the one centred at epoch 2
    _scripted(opt, {e: (1.0 if e < 5 else 3.0) for e in range(10)})
    archs, alphas = {}, {}
    for epoch in range(10):
        opt.on_epoch_start(epoch)
        opt.step(batch(), batch())
        out = opt.on_epoch_end(epoch)
        archs[epoch] = opt.space.to_str(opt.current_architecture())
        alphas[epoch] = {k: v.detach().clone() for k, v in opt.arch_parameters().items()}
        if epoch == 5:
            assert out["es_stop_epoch"] == 2.0 and opt.stopped
    assert opt.stop_epoch == 2
    assert opt.space.to_str(opt.select([])) == opt.archs[2] == archs[9]
    # after the stop the search is frozen: the logits no longer move and no eigenvalue is computed
    assert all(torch.equal(alphas[5][k], alphas[9][k]) for k in alphas[5])
    assert opt.ev_epochs == list(range(6))
    # and the state survives a checkpoint
    fresh, _ = _tiny("darts-es", {**FAST, "arch_lr": 0.5})
    fresh.load_state_dict(opt.state_dict())
    assert fresh.stop_epoch == 2 and fresh.select([]) == opt.select([])


def test_darts_ada_rolls_back_to_the_checkpointed_state_and_raises_l2():
    opt, batch = _tiny("darts-ada", {**FAST, "w_weight_decay": 3e-4, "ada_factor": 10.0, "ada_max_l2": 0.003},
                       epochs=12)
    _scripted(opt, {e: (1.0 if e < 5 else 3.0) for e in range(12)})
    states = {}
    for epoch in range(6):
        opt.on_epoch_start(epoch)
        opt.step(batch(), batch())
        out = opt.on_epoch_end(epoch)
        if epoch < 5:
            states[epoch] = (opt.state_dict()["supernet"], {k: v.detach().clone() for k, v in opt.alpha.alpha.items()},
                             opt.weights.steps)
    assert out["ada_rollback_to"] == 2.0 and opt.l2 == pytest.approx(3e-3)
    sup, alpha, steps = states[2]
    assert all(torch.equal(sup[k], v) for k, v in opt.supernet.state_dict().items())
    assert all(torch.equal(alpha[k], v) for k, v in opt.alpha.alpha.items())
    assert opt.weights.steps == steps and opt.ev_epochs == [0, 1, 2]
    assert opt.first_stop_arch == opt.archs[2]
    # the next runner epoch continues the search at epoch 3 with the new L2 in the weight optimizer
    opt.on_epoch_start(6)
    assert opt.search_epoch == 3
    assert opt.weights.opt.param_groups[0]["weight_decay"] == pytest.approx(3e-3)
    opt.step(batch(), batch())
    opt.on_epoch_end(6)
    # L2 reached its maximum: further triggers leave the search alone
    _scripted(opt, {e: 100.0 * (e + 1) ** 2 for e in range(12)})
    for epoch in range(7, 12):
        opt.on_epoch_start(epoch)
        opt.step(batch(), batch())
        opt.on_epoch_end(epoch)
    assert len(opt.rollbacks) == 1 and opt.search_epoch == 8
    fresh, _ = _tiny("darts-ada", {**FAST, "w_weight_decay": 3e-4, "ada_factor": 10.0, "ada_max_l2": 0.003},
                     epochs=12)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.l2 == opt.l2 and fresh.offset == opt.offset and sorted(fresh.snapshots) == sorted(opt.snapshots)


def test_drop_path_schedule_and_spaces_without_drop_path():
    opt, _ = _tiny("darts-dp", {"order": 1, "drop_path_prob": 0.3}, space="s1", epochs=4)
    seen = []
    for e in range(4):
        opt.on_epoch_start(e)
        seen.append(opt.supernet.drop_path_prob)
    assert seen == pytest.approx([0.0, 0.1, 0.2, 0.3])
    with pytest.raises(ConfigError, match="drop-path"):
        _tiny("darts-dp", {"drop_path_prob": 0.3}, space="s5")  # the legacy S5 supernet has no drop-path
    with pytest.raises(ConfigError):
        _tiny("darts-ada", {"ada_factor": 1.0})


@pytest.mark.parametrize("space,name,extra", [("s5", "darts-es", {}), ("s1", "darts-ada", {"drop_path_prob": 0.2})])
def test_runner_records_the_dominant_eigenvalue(space, name, extra, tmp_path):
    cfg = RunConfig(space=space, dataset="digits", benchmark="none", optimizer=name,
                    optimizer_config={"order": 1, "eigen_every": 1, "eigen_max_iter": 8, **extra}, epochs=2,
                    batch_size=16, subset=32, channels=4, depth=3)
    SearchRun(cfg, tmp_path).run()
    t = pd.read_csv(tmp_path / cfg.run_id() / "trajectory.csv")
    assert len(t) == 2 and t["dominant_eigenvalue"].notna().all()
    assert t["search_epoch"].tolist() == [0, 1]


def _summary(value: float, key: str, acc: float, seed: int) -> dict:
    return {"name": f"{key}{value}-s{seed}", "optimizer_config": {key: value}, "final": {"arch": f"a{value}"},
            "last_row": {"valid_acc": acc}}


def test_rdarts_grids_and_selection_rule(tmp_path):
    assert [g["w_weight_decay"] for g in grid("l2")] == list(L2_GRID) == [3e-4, 9e-4, 27e-4, 81e-4, 243e-4]
    assert [g["drop_path_prob"] for g in grid("dp")] == list(DP_GRID) == [0.0, 0.2, 0.4, 0.6]
    runs = [_summary(v, "w_weight_decay", acc, s) for v, accs in
            ((3e-4, (80, 90)), (27e-4, (86, 86)), (243e-4, (70, float("nan")))) for s, acc in enumerate(accs)]
    sel = select(runs, "l2")
    assert sel.value == pytest.approx(27e-4) and sel.score == 86  # best mean, not best single seed
    assert sel.scores[243e-4] == 70  # the diverged seed does not vote
    assert [r["arch"] for r in sel.runs] == ["a0.0027", "a0.0027"]
    tie = select([_summary(0.4, "drop_path_prob", 50, 0), _summary(0.2, "drop_path_prob", 50, 0)], "dp")
    assert tie.value == 0.2
    # from a finished run directory (drop-path of an imported run lives in "resolved")
    d = tmp_path / "run"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"run": {"optimizer_config": {}}, "resolved": {
        "optimizer": {"w_weight_decay": 3e-4}, "drop_path_prob": 0.4}}))
    (d / "final.json").write_text(json.dumps({"arch": "x"}))
    (d / "trajectory.csv").write_text("epoch,valid_acc\n0,40.0\n1,55.5\n")
    s = run_summary(d)
    assert s["last_row"]["valid_acc"] == 55.5 and select([d], "dp").value == 0.4
    with pytest.raises(ConfigError):
        grid("cutout")


def test_darts_ada_runs_the_official_budget_and_learning_rate(tmp_path, monkeypatch):
    """RobustDARTS train_search.py (early_stop 3): on a trigger at epoch t with stop epoch s, train again from
    s + 1 to the last epoch with the stronger L2 and the cosine of the absolute epoch (a fresh
    CosineAnnealingLR stepped with the epoch): search epochs 0..t, then s + 1..E - 1."""
    import math

    from harness.optimizers.robust_darts import DartsADA

    monkeypatch.setattr(DartsADA, "compute_eigenvalue", lambda self: 1.0 if self.search_epoch < 5 else 3.0)
    epochs = 8
    cfg = RunConfig(space="s5", dataset="digits", benchmark="none", optimizer="darts-ada",
                    optimizer_config={**FAST, "w_weight_decay": 3e-4, "ada_factor": 10.0, "ada_max_l2": 0.003},
                    epochs=epochs, batch_size=16, subset=32, channels=4, depth=3)
    final = SearchRun(cfg, tmp_path).run()
    t = pd.read_csv(tmp_path / cfg.run_id() / "trajectory.csv")
    official = [0, 1, 2, 3, 4, 5] + [3, 4, 5, 6, 7]  # trigger after epoch 5, stop epoch 2
    assert t["search_epoch"].tolist() == official and final["epochs_completed"] == len(official)
    lr = [0.001 + (0.025 - 0.001) * (1 + math.cos(math.pi * e / epochs)) / 2 for e in official]
    assert t["lr"].tolist() == pytest.approx(lr, rel=1e-12)
    assert t["l2_factor"].tolist() == pytest.approx([3e-4] * 6 + [3e-3] * 5)


@pytest.mark.parametrize("kind", ["l2", "dp"])
def test_rdarts_plans_run_the_official_grids(kind):
    """docs/plans/r-darts-{l2,dp}.yaml: second-order darts-dp over exactly the RobustDARTS grid, S1-S4."""
    from pathlib import Path

    from harness.run.sweep import Plan

    plan = Path(__file__).resolve().parents[1] / "docs" / "plans" / f"r-darts-{kind}.yaml"
    runs = Plan.load(plan).expand()
    key = {"l2": "w_weight_decay", "dp": "drop_path_prob"}[kind]
    assert {r.space for r in runs} == {"s1", "s2", "s3", "s4"} and {r.optimizer for r in runs} == {"darts-dp"}
    assert sorted({r.optimizer_values()[key] for r in runs}) == pytest.approx(sorted(g[key] for g in grid(kind)))
    assert all(r.optimizer_values()["order"] == 2 for r in runs)
    assert all(r.protocol == "robustdarts/darts-dp" and r.epochs == 50 for r in runs)
    if kind == "l2":
        assert all(r.optimizer_values()["drop_path_prob"] == 0.0 for r in runs)


def test_drop_path_acts_on_each_edges_whole_mixed_output(monkeypatch):
    """RobustDARTS Cell.forward: drop_path(MixedOp_e(h)) once per edge, skip_connect included (S2 = {skip, sep})."""
    from search_spaces.darts import supernet as sn

    space = get_space("s2")
    cfg = space.default_config().with_overrides(channels=4, depth=3, num_classes=3, in_channels=1, input_size=8)
    net = space.build_supernet(cfg)
    net.drop_path_prob = 0.3
    seen = []
    monkeypatch.setattr(sn, "drop_path", lambda x, p: (seen.append((x.detach().clone(), p)), x)[1])
    w = {g.name: torch.nn.functional.one_hot(torch.zeros(g.shape[0], dtype=torch.long), g.shape[1]).float()
         for g in space.param_groups}  # skip_connect only: the old per-op rule never dropped it
    x = torch.randn(2, 1, 8, 8)
    net.train()
    net(x, w)
    edges = sum(g.shape[0] for g in space.param_groups) // len(space.param_groups)
    assert len(seen) == edges * cfg.depth and all(p == 0.3 for _, p in seen)
    net.eval()
    seen.clear()
    net(x, w)
    assert not seen


def test_cutout_matches_the_official_mask():
    """RobustDARTS src/utils.py Cutout: centre uniform over the pixels, square of side `length` clipped to the
    image, zeroed (after normalisation), applied with probability `prob`."""
    import numpy as np

    from harness.data.augment import cutout

    x = torch.randn(6, 3, 10, 10, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    out = cutout(x, 4, 0.5, g)
    g2 = torch.Generator().set_state(state)
    coins = torch.rand(6, generator=g2) < 0.5
    ys, xs = torch.randint(0, 10, (6,), generator=g2), torch.randint(0, 10, (6,), generator=g2)
    for i in range(6):
        mask = np.ones((10, 10))
        if coins[i]:
            y, xx = int(ys[i]), int(xs[i])
            mask[np.clip(y - 2, 0, 10):np.clip(y + 2, 0, 10), np.clip(xx - 2, 0, 10):np.clip(xx + 2, 0, 10)] = 0.0
        torch.testing.assert_close(out[i], x[i] * torch.from_numpy(mask), rtol=0, atol=0)
    assert torch.equal(cutout(x, 0, 1.0, g), x) and torch.equal(cutout(x, 4, 0.0, g), x)


def test_robustdarts_runs_cutout_on_both_search_streams():
    from harness.data import set_cutout

    class S:
        cutout_length, cutout_prob = 0, 0.0

    # RobustDARTS Helper.__init__: Cutout off at drop_path_prob 0 (plain DARTS), on for the DP runs
    assert RunConfig(space="s1", dataset="cifar10", benchmark="none", optimizer="darts-2nd").cutout_length == 0
    cfg = RunConfig(space="s1", dataset="cifar10", benchmark="none", optimizer="darts-dp",
                    optimizer_config={"drop_path_prob": 0.2})
    assert (cfg.cutout_length, cfg.cutout_prob, cfg.cutout_ramp) == (16, 1.0, False)
    streams = (S(), S())
    for e in (0, 30):  # constant 1.0: the runs as made (the ramp set an attribute Cutout never read)
        set_cutout(streams, cfg.cutout_length, cfg.cutout_prob_at(e))
        assert [(s.cutout_length, s.cutout_prob) for s in streams] == [(16, 1.0)] * 2
    ramp = RunConfig(space="s1", dataset="cifar10", benchmark="none", optimizer="darts-dp", cutout_ramp=True)
    set_cutout(streams, ramp.cutout_length, ramp.cutout_prob_at(25))
    assert streams[0].cutout_prob == pytest.approx(25 / 49)
    assert RunConfig(space="nb201", dataset="cifar10", benchmark="none", optimizer="darts").cutout_length == 0
