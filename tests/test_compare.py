"""``harness compare``: every statistic against scipy or a hand computation, grouping, pairing, the CLI end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.metrics import rank_tests
from harness.reporting.compare import CompareConfig, compare
from harness.reporting.compare_render import latex, markdown, write

#: Demsar (JMLR 2006), Table 5(a): q_0.05 of the Nemenyi test for k = 2..10.
DEMSAR_Q05 = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]


def test_nemenyi_q_matches_demsars_table_and_cd_by_hand():
    assert [rank_tests.nemenyi_q(k) for k in range(2, 11)] == pytest.approx(DEMSAR_Q05, abs=1.5e-3)
    assert rank_tests.critical_difference(4, 14) == pytest.approx(rank_tests.nemenyi_q(4) * math.sqrt(20 / 84))


def test_rank_tests_and_effect_sizes():
    a, b = [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]
    p, name = rank_tests.rank_test(a, b)
    assert p == pytest.approx(2 / 70) and "exact" in name  # hand: 2 of C(8, 4) orderings are as extreme
    x, y = [0.3, 1.2, 0.7, 2.0, 0.1], [0.9, 1.0, 1.9, 2.6, 0.5]
    p, name = rank_tests.rank_test(x, y, paired=True)
    assert p == pytest.approx(sps.wilcoxon(x, y).pvalue) and "Wilcoxon" in name
    # Hedges' g by hand: pooled sd of two samples with var 5/3 each, J = 1 - 3 / (4 * 8 - 9)
    assert rank_tests.hedges_g(b, a) == pytest.approx((1 - 3 / 23) * 4 / math.sqrt(5 / 3))
    assert rank_tests.cliffs_delta(b, a) == 1.0 and rank_tests.cliffs_delta([1, 2], [2, 1]) == 0.0
    assert rank_tests.cliffs_delta([1, 3], [2]) == 0.0 and rank_tests.cliffs_delta([3, 3], [2, 4]) == 0.0


def test_friedman_and_average_ranks():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(6, 4)) + np.array([0.0, 0.5, 1.0, 1.5])
    fr = rank_tests.friedman(s, higher_is_better=False)
    ref = sps.friedmanchisquare(*s.T)  # no ties in continuous data: scipy's chi2 is Demsar's eq. 1
    assert fr.chi2 == pytest.approx(ref.statistic) and fr.p == pytest.approx(ref.pvalue)
    assert fr.f == pytest.approx((6 - 1) * fr.chi2 / (6 * 3 - fr.chi2))  # Iman-Davenport, eq. 2
    r = rank_tests.average_ranks(np.array([[1.0, 2.0, 2.0], [3.0, 1.0, 2.0]]), higher_is_better=False)
    assert r.tolist() == pytest.approx([2.0, 1.75, 2.25])  # ranks (1, 2.5, 2.5) and (3, 1, 2): ties share 2.5


def fake_run(root: Path, optimizer: str, seed: int, regret: list[float], protocol: str = "embedded",
             supernet: dict | None = None, overrides: dict | None = None, **run) -> Path:
    """A run folder in the runner's format (config.json with resolved supernet and overrides)."""
    d = root / f"{optimizer}-{protocol}-{seed}-{json.dumps(overrides or {}, sort_keys=True).__hash__() % 10**6}"
    d.mkdir(parents=True)
    r = {"space": "s5", "dataset": "digits", "benchmark": "s5-digits", "optimizer": optimizer, "seed": seed,
         "protocol": f"{protocol}/{optimizer}", "batch_size": 64, "optimizer_config": {}, **run}
    r.update({k: v for k, v in (overrides or {}).items() if k != "arch_lr"})
    if overrides and "arch_lr" in overrides:
        r["optimizer_config"] = {"arch_lr": overrides["arch_lr"]}
    cfg = {"run_id": d.name, "run": r, "resolved": {"supernet": supernet or {"channels": 8},
                                                   "protocol": {"overrides": overrides or {}}}}
    (d / "config.json").write_text(json.dumps(cfg))
    pd.DataFrame({"epoch": range(len(regret)), "wall_seconds": [1.0 + e for e in range(len(regret))],
                  "test_regret": regret, "gt_test_acc": [96 - x for x in regret]}).to_csv(d / "trajectory.csv",
                                                                                          index=False)
    (d / "final.json").write_text(json.dumps({"status": "finished", "arch": "x"}))
    return d


def test_settings_are_never_pooled_and_pairing_needs_the_same_initialisation(tmp_path):
    a = [0.5, 0.9, 0.4, 0.8]
    b = [1.5, 1.6, 1.1, 2.0]
    for s in range(4):
        fake_run(tmp_path, "darts", s, [3.0, a[s]])
        fake_run(tmp_path, "gdas", s, [5.0, b[s]])
        fake_run(tmp_path, "darts", s, [9.0, 9.0 + s], protocol="nb201")  # another protocol: its own setting
        fake_run(tmp_path, "rsws", s, [3.0, b[s]], supernet={"channels": 16})  # other supernet: not paired
        fake_run(tmp_path, "darts", s, [3.0, a[s] + 0.1], overrides={"arch_lr": 0.1})  # its own competitor
    c = compare([tmp_path])
    assert set(c.summary["setting"]) == {"s5/digits, benchmark s5-digits, protocol embedded",
                                         "s5/digits, benchmark s5-digits, protocol nb201"}
    emb = c.summary[c.summary["setting"].str.endswith("embedded")]
    assert set(emb["competitor"]) == {"darts", "darts [arch_lr=0.1]", "gdas", "rsws"}
    assert emb.set_index("competitor").loc["darts", "mean"] == pytest.approx(np.mean(a))  # nb201 runs not pooled
    p = c.pairs.set_index(["competitor", "against"])
    dg = p.loc[("darts", "gdas")]
    assert dg["paired"] and dg["test"] == "paired t"
    assert dg["p"] == pytest.approx(sps.ttest_rel(a, b).pvalue)
    d = np.subtract(a, b)
    half = sps.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert (dg["ci_low"], dg["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    dr = p.loc[("darts", "rsws")]
    assert not dr["paired"] and dr["p"] == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    assert dr["p_rank"] == pytest.approx(sps.mannwhitneyu(a, b, method="exact").pvalue)
    # Holm within the setting: the largest raw p of the setting's 6 pairs is adjusted no lower than itself
    setting = c.pairs[c.pairs["setting"].str.endswith("embedded")]
    raw = sorted(setting["p"])
    assert setting["p_holm"].min() == pytest.approx(min(1.0, 6 * raw[0]))
    assert any("gdas has no finished run in" in n and "nb201" in n for n in c.notes)
    assert r"darts [arch\_lr=0.1] & 4 &" in latex(c)  # escaped once (the table's LaTeX escaper)


def test_anytime_area_threshold_and_against(tmp_path):
    for s in range(3):
        fake_run(tmp_path, "darts", s, [4.0, 2.0, 1.0, 1.0])
        fake_run(tmp_path, "gdas", s, [8.0, 6.0, 2.0 + s, 0.5])
    c = compare([tmp_path], CompareConfig(against="darts", threshold=1.0))
    s = c.summary.set_index("competitor")
    assert s.loc["darts", "auc"] == pytest.approx(2.0) and s.loc["darts", "epochs_to_threshold"] == 3
    assert s.loc["darts", "seconds_to_threshold"] == 3.0 and s.loc["gdas", "reached"] == "3/3"
    assert s.loc["gdas", "epochs_to_threshold"] == 4
    assert list(zip(c.pairs["competitor"], c.pairs["against"])) == [("gdas", "darts")]
    e2 = compare([tmp_path], CompareConfig(epoch=2))
    assert e2.summary.set_index("competitor").loc["gdas", "mean"] == 6.0


def test_power_statement_matches_the_formula(tmp_path):
    a, b = [0.5, 0.9, 0.4, 0.8], [1.5, 1.6, 1.1, 2.0]
    for s in range(4):
        fake_run(tmp_path, "darts", s, [a[s]], supernet={"s": s})  # different supernets: independent
        fake_run(tmp_path, "gdas", s, [b[s]], supernet={"s": -s - 1})
    r = compare([tmp_path]).pairs.iloc[0]
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 4
    df = (va + vb) ** 2 / (va ** 2 / 3 + vb ** 2 / 3)
    assert r["detectable"] == pytest.approx((sps.t.ppf(0.975, df) + sps.t.ppf(0.8, df)) * math.sqrt(va + vb))
    assert r["seeds_needed"] <= 4  # the observed difference is already significant with 4 seeds
    assert r["significant"]


@pytest.fixture(scope="module")
def s5_runs(tmp_path_factory):
    """Real searches on S5/digits: darts, rsws, gdas x 4 seeds, 2 epochs; darts and rsws also at batch 32 (a
    setting gdas lacks)."""
    from harness.cli import main

    root = tmp_path_factory.mktemp("s5cmp") / "runs"
    main(["run", "--space", "s5", "--dataset", "digits", "--optimizer", "darts", "rsws", "gdas", "--seeds",
          "0", "1", "2", "3", "--epochs", "2", "-o", str(root), "-q"])
    main(["run", "--space", "s5", "--dataset", "digits", "--optimizer", "darts", "rsws", "--seeds", "0", "1",
          "--epochs", "2", "--batch-size", "32", "-o", str(root), "-q"])
    return root


def test_cli_end_to_end_on_s5_digits(s5_runs, tmp_path, capsys):
    from harness.cli import main

    main(["compare", str(s5_runs), "--threshold", "1.0", "-o", str(tmp_path / "cmp")])
    text = capsys.readouterr().out
    assert text.count("## s5/digits") == 2 and "batch_size=32" in text and "epochs=2" in text
    assert "Runs are paired by seed" in text and "Power: differences smaller than" in text
    assert "gdas has no finished run in" in text and "Friedman chi2" in text
    assert "Across settings, left out (missing somewhere): gdas" in text
    out = tmp_path / "cmp"
    for f in ("comparison.md", "comparison.tex", "summary.csv", "pairs.csv", "critical_difference.png",
              "critical_difference.pdf", "anytime_0_epochs.png", "anytime_0_seconds.pdf"):
        assert (out / f).is_file(), f
    pairs = pd.read_csv(out / "pairs.csv")
    assert len(pairs) == 3 + 1 and set(pairs["test"]) == {"paired t"}
    assert latex(compare([s5_runs])).startswith("% needs \\usepackage{booktabs}")
    # one seed of an optimizer: no pair test for it (never a test on n = 1)
    c = compare([s5_runs], CompareConfig(against="gdas"))
    assert "no run of 'gdas'" in markdown(c)
    assert len(write(c, tmp_path / "c2")) >= 4
