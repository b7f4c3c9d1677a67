"""Rank agreement of a prediction with the truth: Kendall, Spearman, Pearson, top-k precision (finite pairs only).

Shared by the analyses (``harness correlate``, NSA) and the figures that state them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats


def _finite(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def pearson_r(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of the finite pairs (NaN with < 2 pairs or a constant side)."""
    x, y = _finite(x, y)
    return _guard(lambda: stats.pearsonr(x, y)[0], x, y)


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman correlation (Pearson of tie-averaged ranks) of the finite pairs."""
    x, y = _finite(x, y)
    return _guard(lambda: stats.spearmanr(x, y)[0], x, y)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall tau-b (tie-corrected, O(n log n)) of the finite pairs."""
    x, y = _finite(x, y)
    return _guard(lambda: stats.kendalltau(x, y, variant="b")[0], x, y)


def _guard(fn: Callable[[], float], x: np.ndarray, y: np.ndarray) -> float:
    # scipy warns and returns NaN on constant input; a NaN without the warning is what callers want
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(fn())


def top_k_precision(pred: Sequence[float], truth: Sequence[float], fraction: float) -> float:
    """Share of the true top ``k = ceil(fraction * n)`` among the predicted top k (ties: lower index first)."""
    pred, truth = _finite(pred, truth)
    n = len(pred)
    if n == 0:
        return math.nan
    k = max(1, math.ceil(fraction * n - 1e-9))  # 1e-9: 0.1 * 30 must give 3, not 4
    top_p = np.argsort(-pred, kind="stable")[:k]
    top_t = np.argsort(-truth, kind="stable")[:k]
    return len(set(top_p.tolist()) & set(top_t.tolist())) / k


def rank_correlations(pred: Sequence[float], truth: Sequence[float],
                      fractions: Sequence[float] = (0.05, 0.10)) -> dict[str, float]:
    """Every agreement measure of ``pred`` with ``truth`` over their finite pairs."""
    p, t = _finite(pred, truth)
    out: dict[str, float] = {"n": len(p), "kendall_tau": kendall_tau(p, t), "spearman_rho": spearman_rho(p, t),
                             "pearson_r": pearson_r(p, t)}
    for f in fractions:
        out[f"top{round(100 * f):g}pct_precision"] = top_k_precision(p, t, f)
    return out
