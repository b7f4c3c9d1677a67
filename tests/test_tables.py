"""Tables and plots on synthetic run directories: mean/std/n against hand-computed values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from harness.reporting.aggregate import load_frame, load_runs, save_parquet
from harness.reporting.tables import (TableConfig, cell_stats, compare_against, reference_rows, render_against,
                                      render_table, resolve_against)


def make_run(root: Path, optimizer: str, seed: int, test_accs: list[float], status: str = "finished",
             dataset: str = "cifar10", optimum: float = 95.0, eig: bool = False, **opt_cfg) -> Path:
    """A run directory in the runner's format, with a chosen test-accuracy trajectory."""
    run = {"space": "nb201", "dataset": dataset, "benchmark": "nb201", "benchmark_dataset": None,
           "optimizer": optimizer, "optimizer_config": dict(opt_cfg), "seed": seed, "epochs": len(test_accs),
           "device": "cpu", "data_dir": None}
    tag = "-".join(f"{k}{v}" for k, v in sorted(opt_cfg.items()))
    d = root / f"{optimizer}-{dataset}-{tag}-seed{seed}"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"run_id": d.name, "run": run, "resolved": {}}))
    rows = []
    for e, a in enumerate(test_accs):
        r = {"epoch": e, "wall_seconds": 1.5 * (e + 1), "arch": f"arch{e}", "train_loss": 1.0 / (e + 1),
             "gt_valid_acc": a - 1.0, "gt_test_acc": a, "test_regret": optimum - a}
        if eig:
            r["dominant_eigenvalue"] = 0.1 * (e + 1) + seed
        rows.append(r)
    pd.DataFrame(rows).to_csv(d / "trajectory.csv", index=False)
    (d / "final.json").write_text(json.dumps({"status": status, "reason": "nan loss" if status == "diverged" else None,
                                              "gt_test_acc": test_accs[-1], "test_regret": optimum - test_accs[-1]}))
    return d


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for s, acc in enumerate([90.0, 92.0, 94.0]):
        make_run(root, "darts", s, [80.0, acc], eig=True)
    for s, acc in enumerate([91.0, 93.0]):  # only two seeds: n shown
        make_run(root, "gdas", s, [85.0, acc], eig=True)
    make_run(root, "gdas", 2, [10.0, 10.0], status="diverged")  # counted, never averaged
    for s, acc in enumerate([50.0, 60.0, 70.0]):
        make_run(root, "darts", s, [40.0, acc], dataset="cifar100", optimum=75.0)
    return root


def _cell(cells, opt, ds="cifar10", split="test"):
    c = cells[(cells.optimizer == opt) & (cells.dataset == ds) & (cells.split == split)]
    assert len(c) == 1
    return c.iloc[0]


def test_mean_std_n_match_hand_computed(runs):
    frame = load_frame([runs])
    cells = cell_stats(frame, TableConfig())
    d = _cell(cells, "darts")
    assert d["mean"] == pytest.approx(92.0) and d["std"] == pytest.approx(2.0) and d["n"] == 3
    g = _cell(cells, "gdas")
    assert g["mean"] == pytest.approx(92.0) and g["std"] == pytest.approx(math.sqrt(2.0))
    assert g["n"] == 2 and g["diverged"] == 1
    assert _cell(cells, "darts", split="valid")["mean"] == pytest.approx(91.0)
    assert _cell(cells, "darts", "cifar100")["std"] == pytest.approx(10.0)
    # epoch N = value after N epochs (row N-1)
    e1 = cell_stats(frame, TableConfig(epoch=1))
    assert _cell(e1, "darts")["mean"] == pytest.approx(80.0) and _cell(e1, "darts")["std"] == 0.0
    reg = cell_stats(frame, TableConfig(metric="regret"))
    assert set(reg.split) == {"test"} and _cell(reg, "darts")["mean"] == pytest.approx(3.0)
    # equal means: no test separates them, so neither is bold and both are marked tied
    assert not reg["best"].any() and bool(_cell(reg, "darts")["tied"]) and bool(_cell(reg, "gdas")["tied"])


def test_setting_label_and_best(tmp_path):
    root = tmp_path / "r"
    for s in (0, 1):
        make_run(root, "darts", s, [90.0 + s], arch_lr=0.001)
        make_run(root, "darts", s, [80.0 + s], arch_lr=0.01)
    cells = cell_stats(load_frame([root]), TableConfig())
    assert set(cells.setting) == {"arch_lr=0.001", "arch_lr=0.01"}
    assert set(cells[cells.best].setting) == {"arch_lr=0.001"}  # best in both columns, Welch p ~ 0.005
    tex = render_table(cells, None, TableConfig(), "latex")
    assert r"\textbf{90.50 $\pm$ 0.71}" in tex


def test_a_best_no_test_separates_is_not_bold(tmp_path):
    """The issue's case: n = 3, 95.68 +- 0.19 vs 95.52 +- 0.37 (Welch p ~ 0.55) is a tie, not a win."""
    root = tmp_path / "r"
    for s, (a, b) in enumerate(zip([95.68 - 0.19, 95.68, 95.68 + 0.19], [95.52 - 0.37, 95.52, 95.52 + 0.37])):
        make_run(root, "darts", s, [a])
        make_run(root, "gdas", s, [b])
    cells = cell_stats(load_frame([root]), TableConfig())
    test = cells[(cells.split == "test") & (cells.dataset == "cifar10")]
    assert not test["best"].any() and test["tied"].all()
    md = render_table(cells, None, TableConfig(), "md")
    assert "95.68 ± 0.19 ≈" in md and "**" not in md and "not separable from the best" in md


def test_render_md_latex_csv(runs):
    frame = load_frame([runs])
    cfg = TableConfig()
    cells = cell_stats(frame, cfg)
    md = render_table(cells, None, cfg, "md")
    # one setting per optimizer: the empty setting column is left out (as in every format)
    assert "| optimizer | nb201: cifar10 valid | nb201: cifar10 test | nb201: cifar100 valid | nb201: cifar100 test |" in md
    assert "92.00 ± 1.41 ≈ (n=2, 1 diverged)" in md  # gdas: n differs from the usual 3; ties darts
    assert "92.00 ± 2.00 ≈" in md  # darts ties gdas: no bold
    tex = render_table(cells, None, cfg, "latex")
    assert r"\begin{tabular}{lrrrr}" in tex and r"92.00 $\pm$ 2.00 $\approx$" in tex and "\x01" not in tex
    assert tex.startswith("% needs \\usepackage{booktabs}") and r"\label{tab:accuracy}" in tex
    csv = pd.read_csv(__import__("io").StringIO(render_table(cells, None, cfg, "csv")))
    row = csv[(csv.optimizer == "gdas") & (csv.split == "test") & (csv.dataset == "cifar10")].iloc[0]
    assert row["n"] == 2 and row["diverged"] == 1 and row["kind"] == "ours"


def test_references_and_against(runs):
    from harness.references import load_references

    cfg = TableConfig()
    cells = cell_stats(load_frame([runs]), cfg)
    refs = load_references()
    rr = reference_rows(cells, refs, "accuracy")
    assert set(rr.dataset) <= {"cifar10", "cifar100"} and "GDAS" in set(rr.method)
    md = render_table(cells, rr, cfg, "md")
    assert "*GDAS*" in md and "*Dong & Yang" in md
    cands, by_name = resolve_against(refs, "Dong & Yang")
    comp = compare_against(cells, cands, by_name)
    g = comp[(comp.optimizer == "gdas") & (comp.dataset == "cifar10") & (comp.split == "test")].iloc[0]
    assert g.ref_value == pytest.approx(93.51)  # NB-201's GDAS row as BaLeNAS Table 1 quotes it
    assert g.z == pytest.approx((92.0 - 93.51) / math.sqrt(2.0))
    out = render_against(comp, "md")
    assert "GDAS" in out and "difference / our std" in out
    from harness.reporting.tables import _names

    assert "rsws" in _names("RandomNAS") and "rsws" in _names("RSPS (RS-ws)")  # NB-201's RSPS as BaLeNAS names it
    cands, by_name = resolve_against(refs, "GDAS")  # a method: every row compared with it
    assert not by_name and compare_against(cells, cands, by_name).ref_method.notna().any()
    with pytest.raises(Exception, match="no published method"):
        resolve_against(refs, "no such thing")


def test_parquet_roundtrip_and_old_api(runs, tmp_path):
    frame = load_frame([runs])
    assert {"config.optimizer_config", "config.epochs", "quantity", "value", "is_final"} - set(frame.columns) == \
        {"config.optimizer_config"}  # empty dicts flatten to nothing
    back = pd.read_parquet(save_parquet(frame, tmp_path / "f.parquet"))
    assert len(back) == len(frame) and back["run_id"].nunique() == 9
    runs_ = load_runs([runs])
    assert len(runs_.finals) == 9


def test_plots_without_display(runs, tmp_path):
    from harness.reporting.plots import (optimizer_color, plot_eigenvalue, plot_ensemble, plot_histograms, plot_regret,
                                         plot_scatter)

    r = load_runs([runs])
    for p in (plot_regret(r, tmp_path / "a.png", log=True), plot_regret(r, tmp_path / "b.png", x="wall_seconds"),
              plot_eigenvalue(r, tmp_path / "e.png"),
              plot_scatter([1, 2, 3, 4], [2, 1, 4, 3], tmp_path / "s.png"),
              plot_histograms(pd.DataFrame({"seen": [True, False, True], "test_acc": [1.0, 2.0, 3.0]}), tmp_path / "h.png"),
              plot_ensemble({"S=4": pd.DataFrame({"members": [1, 2], "gain": [0.0, 1.0]})}, tmp_path / "g.png")):
        assert p.stat().st_size > 1000 and p.with_suffix(".pdf").is_file()
    assert optimizer_color("darts") == optimizer_color("darts", ["zzz", "darts"])
