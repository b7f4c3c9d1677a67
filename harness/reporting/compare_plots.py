"""Figures of ``harness compare``: the critical-difference diagram (Demsar 2006, Fig. 1) and anytime curves with
per-epoch bootstrap bands, against search epochs or search seconds, linear or symlog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.metrics import stats
from harness.reporting.plots import _save, _with_caption, optimizer_color, plt


def plot_cd(ranks: pd.DataFrame, cd: float, path: str | Path, title: str = "") -> Path:
    """Average ranks on one axis (1 = best, left), a bar of length ``cd`` and thick lines joining the
    competitors whose ranks differ by less than ``cd`` (not separable by the Nemenyi test)."""
    names, r = ranks["competitor"].tolist(), ranks["average_rank"].to_numpy(float)
    k = len(names)
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.28 * k))
    ax.set_xlim(1, max(k, 2))
    ax.set_ylim(-k - 1, 2)
    ax.hlines(0, 1, max(k, 2), color="k", lw=1)
    for x in range(1, k + 1):
        ax.vlines(x, 0, 0.15, color="k", lw=1)
        ax.text(x, 0.3, str(x), ha="center", fontsize=8)
    ax.hlines(1.3, 1, 1 + cd, color="k", lw=2)
    ax.text(1 + cd / 2, 1.5, f"CD = {cd:.2f}", ha="center", fontsize=8)
    order = np.argsort(r)
    for row, i in enumerate(order):
        y = -(row + 1) * 0.8
        left = row < (k + 1) // 2
        ax.plot([r[i], r[i]], [0, y], color="k", lw=0.8)
        ax.plot([r[i], 1 if left else max(k, 2)], [y, y], color="k", lw=0.8)
        ax.text(1 - 0.05 if left else max(k, 2) + 0.05, y, f"{names[i]} ({r[i]:.2f})",
                ha="right" if left else "left", va="center", fontsize=8)
    cliques, y = [], 0.4
    for a in range(k):  # maximal runs of competitors within CD of each other
        b = a
        while b + 1 < k and r[order[b + 1]] - r[order[a]] < cd:
            b += 1
        if b > a and not any(a >= s and b <= e for s, e in cliques):
            cliques.append((a, b))
    for s, e in cliques:
        y -= 0.15
        ax.hlines(-0.1 + y - 0.4, r[order[s]] - 0.03, r[order[e]] + 0.03, color="k", lw=3)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)
    return _save(fig, path)


def plot_anytime(runs: pd.DataFrame, metric: str, path: str | Path, x: str = "epoch", log: bool | None = None,
                 alpha: float = 0.05) -> Path:
    """Mean ``metric`` per competitor of one setting vs search epoch or search seconds (the mean over runs of
    each epoch's cumulative wall-clock: machine- and load-dependent), with a per-epoch percentile bootstrap
    band of the mean. ``log=None`` picks a symlog axis when the curves span more than 10x."""
    fig, ax = plt.subplots(figsize=(6, 4.4))
    names = sorted(runs["competitor"].unique())
    lows, highs = [], []
    for name in names:
        g = runs[runs["competitor"] == name]
        length = min(len(t) for t in g["trajectory"])
        if length == 0:
            continue
        m = np.array([t[:length] for t in g["trajectory"]], dtype=float)
        mean = m.mean(axis=0)
        band = np.array([stats.bootstrap_mean(m[:, e], alpha, seed=e) if len(m) > 1 else (mean[e], mean[e])
                         for e in range(length)])
        xs = np.arange(1, length + 1) if x == "epoch" else np.nanmean(
            np.array([s[:length] for s in g["seconds"]], dtype=float), axis=0)
        color = optimizer_color(g["optimizer"].iloc[0], sorted(runs["optimizer"].unique()))
        ax.plot(xs, mean, color=color, label=f"{name} (n={len(m)})")
        ax.fill_between(xs, band[:, 0], band[:, 1], color=color, alpha=0.2)
        lows.append(max(float(np.min(mean)), 1e-9))
        highs.append(float(np.max(mean)))
    if log is None:
        log = bool(lows) and max(highs) > 10 * min(lows)
    if log:
        ax.set_yscale("symlog", linthresh=0.1)  # a value of exactly 0 (the optimum found) stays on the plot
    ax.set_xlabel("search epoch" if x == "epoch" else "search seconds (this machine, its load at the time)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _with_caption(fig, f"Mean over seeds; band: per-epoch {100 * (1 - alpha):.0f} % percentile bootstrap interval "
                       f"of the mean (runs resampled). {runs['setting'].iloc[0]}")
    return _save(fig, path)
