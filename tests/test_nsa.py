"""NSA: per-example architectures, pool training modes, calibration, ensembles, the pool-size study."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from harness.analysis.correlate import load_trained, save_supernet
from harness.analysis.nsa import (NSAAnalysisConfig, analyze_pool, ensemble_curve, ensemble_probs,
                                  expected_calibration_error)
from harness.analysis.oneshot_eval import train_supernet
from harness.cli import main
from harness.optimizers import create_optimizer
from harness.optimizers.nsa import MODES, sample_pool
from harness.optimizers.parts.arch_conditional import batch_norms
from harness.run.config import RunConfig
from harness.run.runner import SearchRun
from search_spaces import SupernetConfig, get_space
from search_spaces.errors import ConfigError

TINY = SupernetConfig(channels=4, depth=1, num_classes=3, in_channels=1, input_size=8, track_running_stats=True)


def _eval_supernet(space_name: str):
    """A tiny supernet with tracked BN statistics, warmed up, in eval mode (examples are then independent)."""
    space = get_space(space_name)
    torch.manual_seed(0)
    net = space.build_supernet(TINY if space_name == "nb201" else TINY.with_overrides(depth=3))
    ones = {g.name: torch.ones(g.shape) / g.shape[1] for g in space.param_groups}
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(16, 1, 8, 8), ones)
    return space, net.eval()


@pytest.mark.parametrize("space_name", ["nb201", "s5", "s1"])
def test_per_example_architectures_equal_looping_examples(space_name):
    space, net = _eval_supernet(space_name)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(6)]
    x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    w = {g.name: torch.stack([space.one_hot(a)[g.name] for a in archs]) for g in space.param_groups}
    with torch.no_grad():
        batched = net(x, w)
        looped = torch.cat([net(x[i:i + 1], space.one_hot(a)) for i, a in enumerate(archs)])
    torch.testing.assert_close(batched, looped, rtol=1e-5, atol=1e-5)


def test_gains_ablation_pool_weights_equal_looping():
    space, net = _eval_supernet("nb201")
    opt = create_optimizer("nsa", space, net, {"mode": "nsa-id-gains", "pool_size": 5}, epochs=1, steps_per_epoch=1, seed=0)
    with torch.no_grad():
        opt.gains.gain["cell"].uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(0))
    net.eval()
    ids = torch.tensor([0, 3, 3, 1, 4, 2])
    x = torch.randn(6, 1, 8, 8)
    wm = opt.eval_weight_map()
    with torch.no_grad():
        batched = net(x, opt.pool_weights(ids))
        looped = torch.cat([net(x[i:i + 1], wm.weights(space, opt.pool[int(j)], "cpu")) for i, j in enumerate(ids)])
    torch.testing.assert_close(batched, looped, rtol=1e-5, atol=1e-5)
    g = opt.gains.gain["cell"].detach()
    torch.testing.assert_close(wm.row_scale["cell"], g.mean(0))


def test_pool_is_fixed_distinct_and_sampled_from():
    space = get_space("s5")
    pool = sample_pool(space, 10, np.random.default_rng(0))
    assert len(set(pool)) == 10
    assert len(sample_pool(space, 500, np.random.default_rng(0))) == 81
    _, net = _eval_supernet("s5")
    opt = create_optimizer("nsa", space, net, {"pool_size": 4}, epochs=1, steps_per_epoch=1, seed=3)
    assert set(opt.sample(50, np.random.default_rng(0))) <= set(opt.pool)
    with pytest.raises(ConfigError):
        create_optimizer("nsa", space, net, {"mode": "nsa-x"}, epochs=1, steps_per_epoch=1, seed=0)


@pytest.mark.parametrize("mode", MODES)
def test_modes_train_and_only_nsa_id_learns_gains(mode):
    space = get_space("nb201")
    torch.manual_seed(0)
    net = space.build_supernet(TINY.with_overrides(track_running_stats=False))
    opt = create_optimizer("nsa", space, net, {"mode": mode, "pool_size": 3}, epochs=1, steps_per_epoch=2, seed=0)
    calls = []
    net.register_forward_pre_hook(lambda m, args: calls.append(args[1]["cell"].dim()))
    opt.on_epoch_start(0)
    g = torch.Generator().manual_seed(0)
    for _ in range(2):
        out = opt.step(*[(torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 3, (8,), generator=g))] * 2)
        assert all(torch.isfinite(v) for v in out.values())
    assert set(calls) == ({2} if mode == "naive" else {3})  # naive: one architecture per batch
    moved = not torch.allclose(opt.gains.gain["cell"], torch.ones(3, 6))
    assert moved == mode.startswith("nsa-id")
    if mode == "nsa-id":  # conditional BN affines train; the supernet's own affines stay frozen at (1, 0)
        assert not torch.allclose(opt.cond_bn.gamma[0], torch.ones_like(opt.cond_bn.gamma[0]))
        assert all(not m.weight.requires_grad for m in batch_norms(net) if m.affine)
    assert opt.select([(torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,)))]) in opt.pool


def test_ece_by_hand():
    probs = torch.tensor([[0.95, 0.05], [0.9, 0.1], [0.58, 0.42], [0.55, 0.45], [0.22, 0.78]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 1, 1])
    # 15 bins (b/15, (b+1)/15]: 0.95 -> bin 14 (right); 0.9 -> bin 13 (wrong); 0.58, 0.55 -> bin 8
    # (0.533, 0.6] (one right, one wrong); 0.78 -> bin 11 (0.733, 0.8] (right)
    want = (1 / 5) * abs(1 - 0.95) + (1 / 5) * abs(0 - 0.9) + (2 / 5) * abs(0.5 - 0.565) + (1 / 5) * abs(1 - 0.78)
    assert expected_calibration_error(probs, labels, 15) == pytest.approx(want, abs=1e-12)
    assert expected_calibration_error(torch.tensor([[1.0, 0.0]]), torch.tensor([0])) == 0.0


def test_ensemble_of_identical_members_equals_one_member():
    logits = torch.randn(1, 20, 4).repeat(5, 1, 1)
    labels = torch.randint(0, 4, (20,))
    torch.testing.assert_close(ensemble_probs(logits), torch.softmax(logits[0].double(), -1))
    curve = ensemble_curve(logits, labels, seed=0)
    assert [c["members"] for c in curve] == [1, 2, 3, 4, 5]
    assert all(c["gain"] == 0 and c["ensemble_acc"] == curve[0]["ensemble_acc"] for c in curve)
    assert curve[-1]["ensemble_ece"] == pytest.approx(expected_calibration_error(
        torch.softmax(logits[0].double(), -1), labels))


def test_analyze_a_trained_pool_supernet(tmp_path):
    run = RunConfig(space="s5", dataset="digits", benchmark="none", optimizer="nsa", epochs=1, batch_size=16,
                    subset=64, channels=4, depth=1, optimizer_config={"pool_size": 4, "mode": "nsa-id"})
    sr = SearchRun(run, tmp_path / "runs")
    sr.run()
    trained, splits, opt = train_supernet(run)
    save_supernet(sr.dir, trained.supernet, opt)  # what the runner does after its last epoch
    loaded = load_trained(sr.dir)
    assert loaded.pool == opt.pool and set(loaded.weight_map.overrides) == {opt.space.to_str(a) for a in opt.pool}
    cfg = NSAAnalysisConfig(n_unseen=3, test_examples=48, train_examples=48, bn_batches=1, batch_size=32)
    res = analyze_pool(loaded, cfg, splits, out_dir=tmp_path)
    s = res["summary"]
    assert s["n_seen"] == 4 and s["n_unseen"] == 3 and s["pool_size"] == 4 and s["mode"] == "nsa-id"
    rows = pd.read_csv(tmp_path / "archs.csv")
    np.testing.assert_allclose(rows["disparity"], rows["train_acc"] - rows["test_acc"])
    assert not set(rows[~rows["seen"]]["arch"]) & set(rows[rows["seen"]]["arch"])
    assert len(pd.read_csv(tmp_path / "ensemble.csv")) == 4
    for f in ("summary.json", "hist.png", "ensemble.png"):
        assert (tmp_path / f).stat().st_size > 0


def test_pool_size_study_one_command(tmp_path, capsys):
    main(["nsa", "--study", "--pool-sizes", "2,3", "--mode", "nsa-id", "--epochs", "1", "--batch-size", "16",
          "--subset", "64", "--channels", "4", "--depth", "1", "--benchmark", "none", "--n-unseen", "2",
          "--test-examples", "32", "--train-examples", "32", "--bn-batches", "1", "--out", str(tmp_path)])
    assert "S=2" in capsys.readouterr().out
    study = pd.read_csv(tmp_path / "nsa_study.csv")
    assert list(study["pool_size"]) == [2, 3] and {"ensemble_gain", "ece_seen", "disparity_seen"} <= set(study)
    assert json.loads((tmp_path / "nsa_study.json").read_text())["mode"] == "nsa-id"
    assert (tmp_path / "nsa_hist.png").is_file() and (tmp_path / "S=3" / "archs.csv").is_file()
