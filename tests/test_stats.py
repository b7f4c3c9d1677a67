"""``harness.metrics.stats``: every statistic against scipy or a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from harness.metrics import stats


def test_welch_from_samples_equals_scipy():
    a, b = [93.1, 92.4, 93.9, 92.0], [93.5, 93.3, 93.6]
    w = stats.welch_samples(a, b)
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert w.p == pytest.approx(ref.pvalue, rel=1e-12)
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 3
    df = (va + vb) ** 2 / (va ** 2 / 3 + vb ** 2 / 2)  # Welch-Satterthwaite by hand
    assert w.df == pytest.approx(df, rel=1e-12)
    half = sps.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert w.ci == pytest.approx((np.mean(a) - np.mean(b) - half, np.mean(a) - np.mean(b) + half), rel=1e-12)
    half90 = sps.t.ppf(0.95, df) * math.sqrt(va + vb)
    assert w.ci_eq[1] - w.ci_eq[0] == pytest.approx(2 * half90, rel=1e-12)


def test_welch_from_summaries_equals_scipy_and_unknown_n_is_a_one_sample_t():
    w = stats.welch(92.86, 0.61, 4, 93.45, 0.16, 4)
    ref = sps.ttest_ind_from_stats(92.86, 0.61, 4, 93.45, 0.16, 4, equal_var=False)
    assert w.p == pytest.approx(ref.pvalue, rel=1e-12)
    vals = [92.31, 93.66, 92.70, 92.77]
    one = stats.welch(float(np.mean(vals)), stats.sample_std(vals), 4, 93.45, 0.16, None)
    assert one.p == pytest.approx(sps.ttest_1samp(vals, 93.45).pvalue, rel=1e-12) and one.df == 3


def test_one_run_uses_the_published_spread_as_a_prediction_interval():
    w = stats.welch(92.0, math.nan, 1, 93.0, 0.5, 4)
    se = 0.5 * math.sqrt(1 + 1 / 4)  # hand: the spread of one new run around a mean of 4
    assert w.se == pytest.approx(se) and w.df == 3
    assert w.p == pytest.approx(2 * sps.t.sf(1.0 / se, 3))


def test_detectable_difference_and_seeds_needed():
    se, df = 0.3, 5.0
    assert stats.detectable_difference(se, df) == pytest.approx((sps.t.ppf(0.975, df) + sps.t.ppf(0.8, df)) * se)
    n = stats.seeds_needed(0.5, 0.4, 0.4)
    for k, ok in ((n, True), (n - 1, False)):  # the smallest n whose detectable difference is <= 0.5
        se_k = math.sqrt(2 * 0.16 / k)
        df_k = (2 * 0.16 / k) ** 2 / (2 * (0.16 / k) ** 2 / (k - 1))
        assert (stats.detectable_difference(se_k, df_k) <= 0.5) is ok


def test_holm_by_hand():
    adj = stats.holm([0.01, 0.04, 0.03, 0.005, math.nan])
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert adj[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02]) and math.isnan(adj[4])


def test_fisher_and_snap():
    assert stats.fisher_hits(0, 4, 4, 4) == pytest.approx(sps.fisher_exact([[0, 4], [4, 0]])[1])
    assert stats.fisher_hits(0, 4, 4, 4) == pytest.approx(2 / 70)  # hand: 2 / C(8, 4)
    assert stats.snap_std(float(np.std([54.3, 54.3, 54.3], ddof=1)), stats.half_unit("54.30")) == 0.0
    assert stats.snap_std(0.004, 0.005) == 0.0 and stats.snap_std(0.006, 0.005) == 0.006
    assert stats.half_unit("35.23") == 0.005 and stats.half_unit("10.3") == 0.05 and stats.decimals("2") == 0


def test_bootstrap_interval_covers_the_mean_about_95_percent():
    rng = np.random.default_rng(1)
    hits = 0
    for i in range(300):
        x = rng.normal(10.0, 2.0, size=40)
        lo, hi = stats.bootstrap(x, lambda d: d.mean(axis=1), n_boot=2000, seed=i)
        hits += lo <= 10.0 <= hi
    assert 0.90 <= hits / 300 <= 0.985  # percentile bootstrap at n=40 under-covers slightly


def test_bootstrap_of_min_and_selected_by_hand():
    v = [2.7, 2.9, 3.1, 2.65]
    lo, hi = stats.bootstrap(v, lambda d: d.min(axis=1), size=4)
    # min of 4 draws: P(min >= 2.9) = (2/4)^4 = 1/16 > 2.5 %, P(min >= 3.1) = 1/256 < 2.5 %
    assert lo == 2.65 and hi == 2.9
    # the run with score 91 is drawn with probability 1 - (2/3)^3 = 0.70; only the worst run: (1/3)^3 = 0.037
    assert stats.bootstrap_selected([3.0, 2.8, 3.5], [90.0, 91.0, 89.0]) == (2.8, 3.5)
    assert stats.bootstrap([1.0], lambda d: d.mean(axis=1)) == (1.0, 1.0)
