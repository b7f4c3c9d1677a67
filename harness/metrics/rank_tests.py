"""Rank tests and effect sizes for comparing optimizers (Demsar, JMLR 2006), beside ``stats``' interval tests.

- Mann-Whitney U (independent runs; exact for small samples without ties) and the Wilcoxon signed-rank test
  (runs paired by seed), both two-sided, from scipy;
- Hedges' g (bias-corrected standardised mean difference; Hedges & Olkin 1985) and Cliff's delta
  (P(a > b) - P(a < b));
- average ranks over settings, the Friedman test with Iman and Davenport's F correction, and the Nemenyi
  critical difference ``q_alpha * sqrt(k (k + 1) / (6 N))`` with ``q_alpha`` the studentized range quantile
  over sqrt(2) (Demsar 2006, Section 3.2.2 and Table 5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


def rank_test(a: Sequence[float], b: Sequence[float], paired: bool = False) -> tuple[float, str]:
    """Two-sided p of a rank test and its name: Wilcoxon signed-rank when ``paired`` (exact for small n),
    else Mann-Whitney U (exact when both samples are small and untied, as scipy's ``auto`` decides)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if paired:
        d = a - b
        if not np.any(d):
            return 1.0, "Wilcoxon signed-rank"
        return float(stats.wilcoxon(a, b, alternative="two-sided").pvalue), "Wilcoxon signed-rank"
    if len(a) < 1 or len(b) < 1:
        return math.nan, "Mann-Whitney U"
    res = stats.mannwhitneyu(a, b, alternative="two-sided", method="auto")
    exact = max(len(a), len(b)) <= 8 and len(np.unique(np.concatenate([a, b]))) == len(a) + len(b)
    return float(res.pvalue), "Mann-Whitney U" + (" (exact)" if exact else "")


def hedges_g(a: Sequence[float], b: Sequence[float]) -> float:
    """Hedges' g of ``a - b`` (pooled sample std, small-sample factor ``1 - 3 / (4 (na + nb) - 9)``);
    NaN when either side has fewer than two values or the pooled std is 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled == 0:
        return math.nan
    return (1 - 3 / (4 * (na + nb) - 9)) * (a.mean() - b.mean()) / pooled


def cliffs_delta(a: Sequence[float], b: Sequence[float]) -> float:
    """Cliff's delta: ``(#(a_i > b_j) - #(a_i < b_j)) / (na nb)``, in [-1, 1]."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not len(a) or not len(b):
        return math.nan
    diff = a[:, None] - b[None, :]
    return float((np.sum(diff > 0) - np.sum(diff < 0)) / diff.size)


def average_ranks(scores: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Average rank per column over rows (blocks = settings); rank 1 is best, ties share the mean rank.
    ``scores``: ``[N settings, k optimizers]``."""
    s = np.asarray(scores, dtype=np.float64)
    ranks = np.vstack([stats.rankdata(-row if higher_is_better else row) for row in s])
    return ranks.mean(axis=0)


@dataclass(frozen=True)
class Friedman:
    """Friedman's test over ``n`` settings and ``k`` optimizers: chi-square, Iman-Davenport F and their p."""

    chi2: float
    p: float
    f: float
    p_f: float
    n: int
    k: int


def friedman(scores: np.ndarray, higher_is_better: bool) -> Friedman:
    """Friedman's chi-square from the average ranks (Demsar 2006, eq. 1 and the F of eq. 2)."""
    s = np.asarray(scores, dtype=np.float64)
    n, k = s.shape
    r = average_ranks(s, higher_is_better)
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(r ** 2) - k * (k + 1) ** 2 / 4)
    p = float(stats.chi2.sf(chi2, k - 1))
    denom = n * (k - 1) - chi2
    f = (n - 1) * chi2 / denom if denom > 0 else math.inf
    p_f = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1))) if math.isfinite(f) and n > 1 else math.nan
    return Friedman(float(chi2), p, float(f), p_f, n, k)


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """``q_alpha`` of the Nemenyi test for ``k`` optimizers: the studentized range quantile (infinite df) / sqrt(2)."""
    return float(stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


def critical_difference(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of average ranks: ``q_alpha * sqrt(k (k + 1) / (6 n))``."""
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6 * n))
