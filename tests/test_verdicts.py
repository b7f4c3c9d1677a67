"""Reproduction verdicts (``harness.recipes.compare.judge``): each published statistic against scipy or a hand
computation; three identical seeds; a published std of 0; Holm and the chance count."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.recipes.compare import (
    Ours,
    chance_line,
    comparisons,
    judge,
    load_published,
)
from harness.recipes.recipe import Row


def pub_row(value: str, std: str = "", n: str = "", statistic: str = "mean", **kw) -> dict[str, str]:
    return {"method": "m", "benchmark": "nb201", "dataset": "cifar10", "split": "test", "metric": "accuracy",
            "setting": "", "value": value, "std": std, "n": n, "statistic": statistic, "source": "s", "table": "t",
            "protocol": "", "disputed": "", **kw}


def ours(*values: float, **kw) -> Ours:
    return Ours(Row("m", "cifar10", "test"), list(values), **kw)


def test_three_identical_seeds_are_no_spread_not_a_tiny_tolerance():
    same = [54.3, 54.3, 54.3]
    assert 0 < np.std(same, ddof=1) < 1e-13  # the float artefact the verdict must not divide by
    c = judge(ours(*same), pub_row("54.30", "0.00", "4"), 0.5)
    assert c.verdict == "consistent" and "3/3" in c.detail and c.p is None
    c = judge(ours(*same), pub_row("54.30", "0.58", "4"), 0.5)  # our std 0: only the published spread counts
    w = sps.ttest_ind_from_stats(54.3, 0.0, 3, 54.30, 0.58, 4, equal_var=False)
    assert c.verdict == "inconclusive" and c.p == pytest.approx(w.pvalue) and abs(c.difference) < 1e-9


def test_published_std_zero_compares_per_seed_and_never_uses_our_std():
    c = judge(ours(54.3, 54.3, 93.0, 93.0), pub_row("54.30", "0.00", "4"), 0.5)
    assert "2/4" in c.detail and c.p == pytest.approx(sps.fisher_exact([[2, 2], [4, 0]])[1])
    assert c.verdict == "inconclusive"
    c = judge(ours(93.0, 93.1, 93.2, 93.3), pub_row("54.30", "0.00", "4"), 0.5)
    assert c.verdict == "differs" and c.p == pytest.approx(2 / 70)
    # a noisy run of ours does not make a published exact-looking value easier to "reproduce"
    c = judge(ours(80.0, 99.0), pub_row("94.00", "0.00"), 0.5)
    assert c.verdict == "inconclusive" and "0/2" in c.detail and "not stated" in c.detail


@pytest.mark.parametrize("n_pub", ["4", ""])
def test_mean_rows_are_welch_with_three_verdicts(n_pub):
    vals = [92.31, 93.66, 92.70, 92.77]  # a zero-cost row's four seeds beside Table 2's 93.45 +- 0.16
    c = judge(ours(*vals), pub_row("93.45", "0.16", n_pub), 0.5)
    if n_pub:
        ref = sps.ttest_ind_from_stats(np.mean(vals), np.std(vals, ddof=1), 4, 93.45, 0.16, 4, equal_var=False)
    else:
        ref = sps.ttest_1samp(vals, 93.45)
        assert "published n not stated" in c.detail
    assert c.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert c.verdict == ("differs" if ref.pvalue < 0.05 else "inconclusive")
    assert c.ci[0] < c.difference < c.ci[1]
    far = judge(ours(90.0, 90.1, 89.9, 90.05), pub_row("93.45", "0.16", "4"), 0.5)
    assert far.verdict == "differs" and far.ci[1] < 0
    same = judge(ours(*[93.45 + d for d in (-0.05, 0.05, 0.0, 0.01)] * 4), pub_row("93.45", "0.05", "16"), 0.5)
    assert same.verdict == "consistent"  # the 90 % interval lies inside +-0.5


def test_other_statistics():
    c = judge(ours(2.7, 2.9, 3.1, 2.65), pub_row("2.61", n="4", statistic="min", metric="error"), 0.3)
    assert c.ours_value == 2.65 and c.verdict == "differs"  # 2.61 lies below every min-of-4 resample
    c = judge(ours(2.7, 2.9, 3.1, 2.65), pub_row("2.70", n="4", statistic="min"), 0.3)
    assert c.verdict == "consistent" and c.ci == pytest.approx((2.65 - 2.70, 2.9 - 2.70))
    c = judge(ours(3.0, 2.8, 3.5, scores=[90.0, 91.0, 89.0]), pub_row("2.80", statistic="selected"), 0.3)
    assert c.ours_value == 2.8 and c.verdict == "inconclusive"  # interval (2.8, 3.5) holds 2.80, wider than +-0.3
    assert judge(ours(3.0), pub_row("2.80", statistic="selected"), 0.3).verdict.startswith("not run")
    rng = np.random.default_rng(0)
    pop = rng.normal(87.06, 12.94, size=15625)
    c = judge(ours(*pop), pub_row("86.61", "13.46", "15625", "population"), 0.5)
    se = 13.46 / math.sqrt(15625)
    assert c.p == pytest.approx(2 * sps.norm.sf(abs(np.mean(pop) - 86.61) / se)) and c.verdict == "differs"
    assert judge(ours(94.3733), pub_row("94.37", statistic="exact"), 0.5).verdict == "consistent"
    assert judge(ours(94.3833), pub_row("94.37", statistic="exact"), 0.5).verdict == "differs"


def test_reduced_and_not_run_rows_are_never_scored():
    assert judge(ours(1.0, scale="reduced"), pub_row("1.00", "0.1"), 0.5).verdict == "reduced: not compared"
    o = Ours(Row("m", "c", "test"), not_run="needs X")
    assert judge(o, pub_row("1.00"), 0.5).verdict == "not run: needs X"
    lines = comparisons([Ours(Row("nobody", "cifar10", "test"), [1.0])], load_published())
    assert [c.verdict for c in lines] == ["no published value"]


def test_many_cells_say_what_chance_gives_and_holm():
    rng = np.random.default_rng(3)
    pub = pd.DataFrame([pub_row("90.00", "1.00", "4", method=f"m{i}") for i in range(30)])
    rows = [Ours(Row(f"m{i}", "cifar10", "test"), list(rng.normal(90, 1, 4))) for i in range(30)]
    lines = comparisons(rows, pub)
    assert all(c.holm is not None and c.holm >= c.p for c in lines)
    text = chance_line(lines)
    assert "30 rows carry a p-value" in text and "about 1.5 of them" in text and "after Holm" in text
