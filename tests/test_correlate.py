"""Correlation analysis: statistics against scipy, BN recalibration, saved supernets, command, dropout study."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn

from benchmarks import load_benchmark
from harness.analysis.correlate import (CorrelateConfig, correlate, ground_truth_for, kendall_tau, load_trained,
                                        pearson_r, rank_correlations, save_supernet, select_architectures, spearman_rho,
                                        symmetric_kl, top_k_precision)
from harness.analysis.oneshot_eval import evaluate_weights, recalibrate_bn, tracked_bn, train_supernet
from harness.cli import main
from harness.run.config import RunConfig
from harness.run.runner import SearchRun
from search_spaces import SupernetConfig, get_space
from search_spaces.errors import BenchmarkError, ConfigError, UserError

X = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]
Y = [2.0, 7.0, 1.0, 8.0, 2.0, 8.0, 1.0, 8.0, 2.0, 8.0]
TINY_RUN = dict(space="s5", dataset="digits", epochs=1, batch_size=16, subset=64, channels=4, depth=1)


@pytest.fixture(scope="module")
def s5_truth(tmp_path_factory) -> dict:
    """Real S5/digits ground truth: the shipped table, else a 3-architecture table made by ``harness tabulate``."""
    try:
        bench = load_benchmark("s5-digits")
        return {"benchmark": "s5-digits", "benchmark_file": None, "archs": bench.table.archs}
    except BenchmarkError:
        from harness.run.tabulate import TabulateConfig, tabulate

        out = tmp_path_factory.mktemp("s5table")
        table = tabulate(TabulateConfig(space="s5", dataset="digits", seeds=(0,), epochs=1, eval_epochs=(1,),
                                        subset=64, channels=4, depth=1, sample=3), out, progress=False)
        return {"benchmark": "table", "benchmark_file": str(out), "archs": table.archs}


def test_statistics_match_scipy_with_ties():
    assert math.isclose(kendall_tau(X, Y), stats.kendalltau(X, Y).statistic)
    assert math.isclose(spearman_rho(X, Y), stats.spearmanr(X, Y).statistic)
    assert math.isclose(pearson_r(X, Y), stats.pearsonr(X, Y).statistic)


def test_statistics_drop_non_finite_pairs_and_known_values():
    x, y = X + [math.nan, 1.0], Y + [3.0, math.inf]
    assert math.isclose(kendall_tau(x, y), stats.kendalltau(X, Y).statistic)
    # by hand: (1,2,3) vs (1,3,2): 2 concordant, 1 discordant pair -> tau 1/3; rho = 1 - 6*2/(3*8) = 0.5
    assert math.isclose(kendall_tau([1, 2, 3], [1, 3, 2]), 1 / 3)
    assert math.isclose(spearman_rho([1, 2, 3], [1, 3, 2]), 0.5)
    assert kendall_tau([1, 2, 3, 4], [8, 6, 4, 2]) == -1.0
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3])) and math.isnan(pearson_r([1], [2]))


def test_top_k_precision_by_hand():
    pred = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    truth = [10, 1, 9, 2, 3, 4, 5, 6, 7, 8]
    assert top_k_precision(pred, truth, 0.1) == 1.0  # k=1: index 0 on both sides
    assert top_k_precision(pred, truth, 0.2) == 0.5  # {0,1} vs {0,2}
    assert top_k_precision(pred, truth, 0.3) == 2 / 3  # {0,1,2} vs {0,2,9}
    many = np.arange(30.0)
    swapped = many.copy()
    swapped[[26, 27]] = swapped[[27, 26]]
    r = rank_correlations(many, swapped)
    # k = ceil(0.1 * 30) = 3 although 0.1 * 30 = 3.0000000000000004: {29, 28, 27} vs {29, 28, 26}
    assert r["n"] == 30 and r["top10pct_precision"] == 2 / 3 and r["top5pct_precision"] == 1.0


def test_symmetric_kl_by_hand():
    p = torch.tensor([[0.0, 0.0]], dtype=torch.float64)  # probabilities (0.5, 0.5)
    q = torch.tensor([[math.log(3.0), 0.0]], dtype=torch.float64)  # (0.75, 0.25)
    want = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25) + 0.75 * math.log(0.75 / 0.5) \
        + 0.25 * math.log(0.25 / 0.5)
    assert math.isclose(float(symmetric_kl(p, q)[0]), want, rel_tol=1e-9)
    assert float(symmetric_kl(q, q)[0]) == 0.0


def test_bn_recalibration_averages_batches_and_restores_the_module():
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2, affine=False, track_running_stats=False))
    batches = [(torch.randn(4, 1, 3, 3) + i, None) for i in range(3)]
    with tracked_bn(net):
        recalibrate_bn(net, net, batches)
        bn = net[1]
        with torch.no_grad():
            means = torch.stack([net[0](x).mean(dim=(0, 2, 3)) for x, _ in batches])
        torch.testing.assert_close(bn.running_mean, means.mean(0))
        assert not net.training
    assert net[1].running_mean is None and not net[1].track_running_stats and net.training


def test_evaluation_does_not_change_the_supernet():
    space = get_space("nb201")
    net = space.build_supernet(SupernetConfig(channels=4, depth=1, num_classes=3, in_channels=1, input_size=8))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = [(torch.randn(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))]
    w = {k: v for k, v in space.one_hot(space.sample(np.random.default_rng(0))).items()}
    a = evaluate_weights(net, w, [x], x)[0]
    b = evaluate_weights(net, w, [x], x)[0]
    torch.testing.assert_close(a, b)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_architecture_selection(tmp_path):
    space = get_space("s5")
    a = select_architectures(space, "10", 3)
    assert len(set(a)) == 10 and a == select_architectures(space, 10, 3)
    assert len(select_architectures(space, "all", 0)) == 81 == len(select_architectures(space, "500", 0))
    f = tmp_path / "archs.txt"
    f.write_text("# two\n" + space.to_str(a[0]) + "\n\n" + space.to_str(a[1]) + "  # comment\n")
    assert select_architectures(space, str(f), 0) == a[:2]
    with pytest.raises(UserError):
        select_architectures(space, str(tmp_path / "missing.txt"), 0)
    with pytest.raises(ConfigError):
        select_architectures(get_space("s1"), "all", 0)


def test_config_validation():
    with pytest.raises(ConfigError):
        CorrelateConfig(top_fractions=(0.0,))
    with pytest.raises(ConfigError):
        CorrelateConfig(eval_split="holdout")


def test_save_load_and_correlate_a_trained_supernet(s5_truth, tmp_path):
    run = RunConfig(**TINY_RUN, optimizer="oneshot", optimizer_config={"r_max": 0.2, "n_candidates": 2},
                    benchmark=s5_truth["benchmark"], benchmark_file=s5_truth["benchmark_file"])
    sr = SearchRun(run, tmp_path)
    sr.run()
    trained, _, opt = train_supernet(run)  # the runner does not keep its weights (yet): train them again
    save_supernet(sr.dir, trained.supernet, opt)
    loaded = load_trained(sr.dir)
    for k, v in trained.supernet.state_dict().items():
        torch.testing.assert_close(loaded.supernet.state_dict()[k], v)
    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(s5_truth["archs"][:12]))
    cfg = CorrelateConfig(archs=str(archs), bn_batches=1, batch_size=32, eval_examples=64, kl_examples=32)
    res = correlate(loaded, cfg, ground_truth_for(loaded.run, loaded.space), out_dir=tmp_path / "out")
    rows = pd.read_csv(tmp_path / "out" / "archs.csv")
    assert len(rows) == len(res["rows"]) == min(12, len(s5_truth["archs"]))
    assert np.isfinite(rows[["oneshot_acc", "sym_kl", "gt_test_acc"]].to_numpy()).all()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    st = summary["stats"]["oneshot_vs_gt_test"]
    assert st["n"] == len(rows)
    expected = stats.kendalltau(rows["oneshot_acc"], rows["gt_test_acc"]).statistic
    if np.isnan(expected):  # constant one-shot scores on a tiny supernet; strict JSON stores NaN as null
        assert st["kendall_tau"] is None
    else:
        assert st["kendall_tau"] == pytest.approx(expected)
    assert {"neg_kl_vs_gt_valid", "top5pct_precision"} <= set(summary["stats"]) | set(st)
    assert (tmp_path / "out" / "scatter.png").stat().st_size > 0


class _Stop(Exception):
    pass


def test_command_reads_an_unfinished_run_checkpoint(s5_truth, tmp_path, capsys):
    run = RunConfig(**{**TINY_RUN, "epochs": 2}, optimizer="nsa", benchmark="none",
                    optimizer_config={"mode": "nsa-id", "pool_size": 4})

    def stop(line: str) -> None:
        raise _Stop

    with pytest.raises(_Stop):
        SearchRun(run, tmp_path, progress=stop).run()
    run_dir = tmp_path / run.run_id()
    assert (run_dir / "checkpoint.pt").is_file()
    loaded = load_trained(run_dir / "checkpoint.pt")
    assert loaded.pool is not None and len(loaded.pool) == 4 and loaded.weight_map.overrides
    bench = ["--benchmark", s5_truth["benchmark"]]
    if s5_truth["benchmark_file"]:
        bench += ["--benchmark-file", s5_truth["benchmark_file"]]
    main(["correlate", str(run_dir), "--archs", "5", "--bn-batches", "1", "--eval-examples", "32",
          "--kl-examples", "0", "--out", str(tmp_path / "c"), *bench])
    assert "oneshot_vs_gt_test" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "c" / "archs.csv")) == 5
    with pytest.raises(SystemExit) as e:  # the run has no benchmark and none is given: a user error
        main(["correlate", str(run_dir), "--archs", "2"])
    assert e.value.code == 2


def test_dropout_study_one_command(s5_truth, tmp_path, capsys):
    bench = ["--benchmark", s5_truth["benchmark"]]
    if s5_truth["benchmark_file"]:
        bench += ["--benchmark-file", s5_truth["benchmark_file"]]
    main(["correlate", "--dropout-study", "--r-max", "0,0.5", "--epochs", "1", "--batch-size", "16",
          "--subset", "64", "--channels", "4", "--depth", "1", "--set", "n_candidates=2", "--archs", "6",
          "--bn-batches", "1", "--eval-examples", "32", "--kl-examples", "16", "--out", str(tmp_path), *bench])
    out = capsys.readouterr().out
    assert "r_max 0 " in out and "r_max 0.5" in out
    study = pd.read_csv(tmp_path / "dropout_study.csv")
    assert list(study["r_max"]) == [0.0, 0.5] and "oneshot_vs_gt_test.kendall_tau" in study
    assert (tmp_path / "dropout_study.png").is_file() and (tmp_path / "r_max=0.5-seed0" / "scatter.png").is_file()
    assert json.loads((tmp_path / "dropout_study.json").read_text())["rows"][1]["r_max"] == 0.5


def test_dropout_study_resumes_after_a_kill(s5_truth, tmp_path):
    """Issue 36: a reproduce study kept its results in memory, so a kill lost all of it. Each (r_max, seed) item
    is saved when done; a rerun reuses them and gives the same table."""
    from harness.analysis.correlate import CorrelateConfig, dropout_study
    from harness.run.config import RunConfig

    base = RunConfig(space="s5", optimizer="oneshot", benchmark=s5_truth["benchmark"],
                     benchmark_file=s5_truth["benchmark_file"], epochs=1, batch_size=16, subset=64, channels=4,
                     depth=1, seed=0, optimizer_config={"n_candidates": 2})
    cfg = CorrelateConfig(archs="6", bn_batches=1, eval_examples=32, kl_examples=0, device="cpu")

    class Kill(Exception):
        pass

    lines: list[str] = []

    def die_after_first_item(line: str) -> None:
        lines.append(line)
        if line.startswith("dropout study [1/2]"):
            raise Kill

    with pytest.raises(Kill):
        dropout_study(base, [0.0, 0.5], cfg, tmp_path / "s", progress=die_after_first_item)
    assert (tmp_path / "s" / "r_max=0-seed0" / "item.json").is_file()
    lines.clear()
    rows = dropout_study(base, [0.0, 0.5], cfg, tmp_path / "s", progress=lines.append)
    kept = [ln for ln in lines if "kept from an earlier run" in ln]
    assert len(kept) == 1 and kept[0].startswith("dropout study [1/2] r_max=0 ")
    fresh = dropout_study(base, [0.0, 0.5], cfg, tmp_path / "fresh")
    assert pd.DataFrame(rows).equals(pd.DataFrame(fresh))
