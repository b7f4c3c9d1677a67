"""Two-group statistics shared by the reproduction verdicts and ``harness compare``: one implementation each.

- Welch's t on a difference of means from summary statistics (either side may be a
  published ``mean +- std`` over ``n`` runs), its 95 % interval and the 90 % interval
  of the equivalence test (two one-sided tests, TOST: Schuirmann 1987);
- the smallest difference a given standard error can detect, and the seeds a stated
  difference needs (normal-approximation power, alpha two-sided, power 0.8);
- percentile bootstrap intervals of any statistic (Efron & Tibshirani 1993, ch. 13);
- Fisher's exact test on hit counts (a published std of 0: every run found the same value);
- Holm's step-down correction (Holm 1979).

Everything is float64 numpy/scipy; ``alpha`` is two-sided.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Power of the detectable-difference statements (the usual 80 %; ours, stated with every figure).
POWER = 0.8


def decimals(text: str) -> int:
    """Digits after the decimal point of a printed number (``"93.45"`` -> 2)."""
    text = str(text).strip()
    return len(text.split(".", 1)[1]) if "." in text else 0


def half_unit(text: str) -> float:
    """Half a unit of the last printed decimal (``"93.45"`` -> 0.005): the rounding of the printed value."""
    return 0.5 * 10.0 ** -decimals(text)


def snap_std(std: float, unit: float) -> float:
    """A std below ``unit`` (half a unit of the printed decimal) is 0: three identical seeds give a float
    std of about 1e-14, which must read as "no spread", not as a tiny tolerance."""
    return 0.0 if not math.isfinite(std) or std < unit else float(std)


def sample_std(values: Sequence[float]) -> float:
    """Sample std (``ddof=1``); NaN for fewer than two values."""
    v = np.asarray(values, dtype=np.float64)
    return float(np.std(v, ddof=1)) if len(v) > 1 else math.nan


@dataclass(frozen=True)
class Welch:
    """Welch's test of ``mean_a - mean_b``.

    Attributes:
        diff: ``mean_a - mean_b``.
        se: Standard error of the difference.
        df: Welch-Satterthwaite degrees of freedom (``inf`` for a known-variance z test).
        p: Two-sided p-value of ``diff == 0`` (``se == 0``: 0 for a nonzero difference, else 1).
        ci: ``(1 - alpha)`` interval of the difference.
        ci_eq: ``(1 - 2 alpha)`` interval: inside ``(-margin, margin)`` means equivalent at level alpha (TOST).
        detectable: Smallest true difference found with probability ``POWER`` at this ``se``.
    """

    diff: float
    se: float
    df: float
    p: float
    ci: tuple[float, float]
    ci_eq: tuple[float, float]
    detectable: float

    def differs(self) -> bool:
        """The interval excludes 0."""
        return self.ci[0] > 0 or self.ci[1] < 0

    def equivalent(self, margin: float) -> bool:
        """The ``1 - 2 alpha`` interval lies inside ``(-margin, margin)``."""
        return -margin < self.ci_eq[0] and self.ci_eq[1] < margin


def _quantile(q: float, df: float) -> float:
    return float(stats.norm.ppf(q) if not math.isfinite(df) else stats.t.ppf(q, df))


def from_se(diff: float, se: float, df: float, alpha: float = 0.05) -> Welch:
    """The test of ``diff`` with standard error ``se`` on ``df`` degrees of freedom."""
    t975, t95 = _quantile(1 - alpha / 2, df), _quantile(1 - alpha, df)
    if se > 0:
        p = float(2 * (stats.norm.sf(abs(diff / se)) if not math.isfinite(df) else stats.t.sf(abs(diff / se), df)))
    else:  # no spread at all: t is infinite (p 0) unless the difference is exactly 0
        p = 0.0 if diff != 0 else 1.0
    return Welch(diff, se, df, p, (diff - t975 * se, diff + t975 * se), (diff - t95 * se, diff + t95 * se),
                 detectable_difference(se, df, alpha))


def welch(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int | None,
          alpha: float = 0.05) -> Welch:
    """Welch's t on ``mean_a - mean_b`` from summary statistics.

    ``n_b=None`` (a published mean whose run count the source does not state) treats
    ``mean_b`` as known: the interval holds our uncertainty only (a one-sample t on
    ``n_a - 1`` degrees of freedom), which the caller must say.
    ``n_a == 1`` with ``std_a`` NaN uses ``std_b`` as the run-to-run spread of a single
    run: the prediction interval ``std_b * sqrt(1 + 1/n_b)`` on ``n_b - 1`` degrees of freedom.
    """
    if n_a < 1:
        raise ValueError("welch: group a needs at least one value")
    if n_a == 1 or not math.isfinite(std_a):
        if n_b is None:
            return from_se(mean_a - mean_b, std_b, math.inf, alpha)
        return from_se(mean_a - mean_b, std_b * math.sqrt(1 + 1 / n_b), max(n_b - 1, 1), alpha)
    va = std_a ** 2 / n_a
    vb = 0.0 if n_b is None else std_b ** 2 / n_b
    se = math.sqrt(va + vb)
    if se == 0:
        return from_se(mean_a - mean_b, 0.0, math.inf, alpha)
    parts = [va ** 2 / (n_a - 1)] + ([vb ** 2 / (n_b - 1)] if n_b is not None and n_b > 1 and vb > 0 else [])
    df = (va + vb) ** 2 / sum(parts) if sum(parts) > 0 else math.inf
    return from_se(mean_a - mean_b, se, df, alpha)


def welch_samples(a: Sequence[float], b: Sequence[float], alpha: float = 0.05) -> Welch:
    """Welch's t on two samples (each >= 2 values)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return welch(float(a.mean()), sample_std(a), len(a), float(b.mean()), sample_std(b), len(b), alpha)


def detectable_difference(se: float, df: float, alpha: float = 0.05, power: float = POWER) -> float:
    """Smallest true difference a two-sided test at ``alpha`` finds with probability ``power``:
    ``(t_{1-alpha/2} + t_{power}) * se`` (the normal-approximation power formula with t quantiles)."""
    if not se > 0:
        return 0.0
    return (_quantile(1 - alpha / 2, df) + _quantile(power, df)) * se


def seeds_needed(delta: float, std_a: float, std_b: float, alpha: float = 0.05, power: float = POWER,
                 cap: int = 10_000) -> int:
    """Runs per group for a two-sided Welch test at ``alpha`` to find a true difference ``delta`` with
    probability ``power`` (smallest n with ``detectable_difference <= |delta|``; ``cap`` when never)."""
    if not delta:
        return cap
    for n in range(2, cap):
        va, vb = std_a ** 2 / n, std_b ** 2 / n
        se = math.sqrt(va + vb)
        if se == 0:
            return n
        df = (va + vb) ** 2 / ((va ** 2 + vb ** 2) / (n - 1)) if va + vb > 0 else math.inf
        if detectable_difference(se, df, alpha, power) <= abs(delta):
            return n
    return cap


def bootstrap(values: Sequence[float], statistic: Callable[[np.ndarray], float], size: int | None = None,
              n_boot: int = 10_000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap ``(1 - alpha)`` interval of ``statistic`` over resamples of ``size`` (default
    ``len(values)``) drawn with replacement; ``statistic`` takes an array ``[n_boot, size]`` and returns
    ``[n_boot]`` (vectorised). Seeded: the same values give the same interval."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = v[rng.integers(0, len(v), size=(n_boot, size or len(v)))]
    s = np.asarray(statistic(draws), dtype=np.float64)
    lo, hi = np.quantile(s, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bootstrap_mean(values: Sequence[float], alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    return bootstrap(values, lambda d: d.mean(axis=1), alpha=alpha, seed=seed)


def bootstrap_selected(values: Sequence[float], scores: Sequence[float], alpha: float = 0.05,
                       seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of "the value of the run with the best (highest) score" over resampled runs."""
    v, s = np.asarray(values, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(v), size=(10_000, len(v)))
    picked = v[idx[np.arange(len(idx)), np.argmax(s[idx], axis=1)]]
    lo, hi = np.quantile(picked, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def fisher_hits(hits: int, n: int, published_hits: int, published_n: int) -> float:
    """Two-sided Fisher exact p of our ``hits``/``n`` against the published ``published_hits``/``published_n``."""
    table = [[hits, n - hits], [published_hits, published_n - published_hits]]
    return float(stats.fisher_exact(table)[1])


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN entries stay NaN and do not count)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(len(p), math.nan)
    idx = [i for i in np.argsort(p) if np.isfinite(p[i])]
    m, running = len(idx), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def separable_best(means: Sequence[float], stds: Sequence[float], ns: Sequence[int], higher: bool,
                   alpha: float = 0.05) -> tuple[int | None, list[bool]]:
    """The best entry if Welch's test separates it from every other after Holm's correction, and which
    entries are tied with the best (not separable from it; the best itself included).

    Returns ``(index of a separable best or None, tied flags)``; entries with ``n < 1`` are ignored. With one
    run on either side no interval exists, so that entry counts as tied.
    """
    idx = [i for i, n in enumerate(ns) if n >= 1 and math.isfinite(means[i])]
    tied = [False] * len(means)
    if not idx:
        return None, tied
    best = max(idx, key=lambda i: means[i]) if higher else min(idx, key=lambda i: means[i])
    others = [i for i in idx if i != best]
    ps = []
    for i in others:
        if ns[best] < 2 or ns[i] < 2:
            ps.append(math.nan)
        else:
            ps.append(welch(means[best], stds[best], ns[best], means[i], stds[i], ns[i], alpha).p)
    adjusted = holm(ps)
    tied[best] = True
    for i, p in zip(others, adjusted):
        tied[i] = not (math.isfinite(p) and p < alpha)
    separable = bool(others) and not any(tied[i] for i in others)
    return (best if separable else None), tied
