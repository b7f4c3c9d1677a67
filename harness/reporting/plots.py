"""Figures (matplotlib Agg: no display needed). Each is saved as PNG and, next to it, PDF.

Colours come from a fixed mapping of optimizer names, so an optimizer has the
same colour in every figure, whichever others share the plot.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from harness.reporting.aggregate import Runs  # noqa: E402

_PALETTE = plt.get_cmap("tab20").colors
#: Known optimizers get hand-picked, well separated colours; others hash into the palette.
_KNOWN = ["darts", "gdas", "rsws", "setn", "enas", "snas", "pcdarts", "sdarts", "drnas", "balenas", "vimnas",
          "nsa", "oneshot", "random"]
# Saturated tab20 shades (even indices) first, light ones after: neighbours in the list stay distinct.
_FIXED = {name: _PALETTE[(2 * i) % 20 + (2 * i) // 20] for i, name in enumerate(_KNOWN)}


def optimizer_color(name: str, names: list[str] | None = None) -> tuple:
    """The colour of ``name``: fixed per name, independent of ``names`` (kept for old callers)."""
    if name in _FIXED:
        return _FIXED[name]
    h = int(hashlib.sha256(str(name).encode()).hexdigest(), 16)
    return _PALETTE[h % len(_PALETTE)]


def _save(fig, path: str | Path) -> Path:
    """Save ``path`` (PNG or PDF) and the other of the two formats beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    other = path.with_suffix(".pdf" if path.suffix == ".png" else ".png")
    fig.savefig(other, dpi=120)
    plt.close(fig)
    return path


def _mean_se(piv: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise mean, standard error (0 where one seed) and count of a (x, seed) pivot."""
    m = piv.mean(axis=1).to_numpy()
    n = piv.count(axis=1).to_numpy()
    se = np.where(n > 1, piv.std(axis=1, ddof=1).to_numpy() / np.sqrt(np.maximum(n, 1)), 0.0)
    return m, np.nan_to_num(se), n


def _diverged(runs: Runs) -> set[str]:
    f = runs.finals
    return set(f.loc[f["status"] == "diverged", "run_id"]) if len(f) and "status" in f else set()


def _band(ax, t: pd.DataFrame, value: str, x: str = "epoch", label_n: bool = True,
          exclude: set[str] | frozenset[str] = frozenset()) -> bool:
    """Mean and standard-error band of ``value`` per optimizer; False when nothing was drawn.

    Runs in ``exclude`` (diverged ones) are left out of the mean, as in the tables,
    and counted in the legend instead.
    """
    drawn = False
    if not len(t) or value not in t:
        return drawn
    for name in sorted(t["optimizer"].dropna().unique()):
        g = t[t["optimizer"] == name]
        left_out = g["run_id"].isin(exclude) if "run_id" in g else pd.Series(False, index=g.index)
        n_out = g.loc[left_out, "run_id"].nunique() if left_out.any() else 0
        g = g[~left_out]
        if not g[value].notna().any():
            continue
        piv = g.pivot_table(index="epoch", columns="seed", values=value)
        xs = piv.index.to_numpy() + 1 if x == "epoch" else g.groupby("epoch")[x].mean().reindex(piv.index).to_numpy()
        m, se, n = _mean_se(piv)
        c = optimizer_color(name)
        note = f"n={int(n.max())}" + (f", {n_out} diverged left out" if n_out else "")
        ax.plot(xs, m, label=f"{name} ({note})" if label_n else name, color=c)
        ax.fill_between(xs, m - se, m + se, color=c, alpha=0.2, linewidth=0)
        drawn = True
    return drawn


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in these runs", ha="center", va="center", transform=ax.transAxes, color="gray")


def regret_label(traj) -> str:
    """Y-axis label naming the regret convention of the plotted rows (``RunConfig.regret``)."""
    conv = set(traj["regret_convention"].dropna()) if "regret_convention" in getattr(traj, "columns", ()) else set()
    conv = conv or {"table"}  # runs written before the column existed used the table convention
    if conv == {"table"}:
        return "test regret (% points, vs the table's best)"
    if conv == {"nb1shot1-reference"}:
        return "test regret (error fraction, nasbench-1shot1 reference)"
    return f"test regret (MIXED conventions: {', '.join(sorted(conv))})"


def plot_regret(runs: Runs, path: str | Path, log: bool = False, x: str = "epoch") -> Path:
    """Anytime test regret vs ``x`` (epoch or wall_seconds): mean and standard-error band per optimizer."""
    fig, ax = plt.subplots(figsize=(6, 4))
    if _band(ax, runs.trajectories, "test_regret", x, exclude=_diverged(runs)):
        ax.legend()
    else:
        _empty(ax, "test regret")
    ax.set_xlabel("search epoch" if x == "epoch" else "search wall-clock (s)")
    ax.set_ylabel(regret_label(runs.trajectories))
    if log:
        # symlog: a regret of exactly 0 (the optimum found) stays on the plot.
        ax.set_yscale("symlog", linthresh=0.1)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_arch_weights(run_dir: str | Path, path: str | Path, group: str | None = None,
                      max_rows: int = 14) -> Path:
    """Anytime architecture weights of one run (``arch_weights.json``): one panel per row of ``group``
    (default: the first), one line per option, weight vs search epoch (VIM-NAS's Figures 6-9)."""
    import json

    data = json.loads((Path(run_dir) / "arch_weights.json").read_text())
    groups = data["groups"]
    g = group or next(iter(groups))
    if g not in groups:
        raise ValueError(f"no weight group {g!r} in {run_dir} (groups: {sorted(groups)})")
    epochs = [e["epoch"] + 1 for e in data["epochs"]]
    rows = groups[g][:max_rows]
    cols = min(len(rows), 4)
    fig, axes = plt.subplots(-(-len(rows) // cols), cols, figsize=(3 * cols, 2.4 * -(-len(rows) // cols)),
                             squeeze=False, sharex=True, sharey=True)
    for r, names in enumerate(rows):
        ax = axes[r // cols][r % cols]
        for k, name in enumerate(names):
            ax.plot(epochs, [e["weights"][g][r][k] for e in data["epochs"]], label=name)
        ax.set_title(f"{g} row {r}", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(rows):]:
        ax.axis("off")
    axes[0][0].legend(fontsize=6)
    fig.supxlabel("search epoch")
    fig.supylabel("architecture weight")
    return _save(fig, path)


def plot_posterior(runs: Runs, path: str | Path) -> Path:
    """BaLeNAS's q over the search: mean sigma (band: its spread over logits) and the spread of mu, per run."""
    t = runs.trajectories
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
    have = "sigma_mean" in getattr(t, "columns", ())
    for run_id, g in (t.groupby("run_id") if have else []):
        g = g.sort_values("epoch")
        x = g["epoch"].to_numpy() + 1
        line = top.plot(x, g["sigma_mean"], label=str(run_id)[:40])[0]
        top.fill_between(x, g["sigma_mean"] - g["sigma_std"], g["sigma_mean"] + g["sigma_std"],
                         alpha=0.2, color=line.get_color())
        bottom.plot(x, g["mu_std"], color=line.get_color())
    if not have:
        _empty(top, "sigma (BaLeNAS runs record it)")
    else:
        top.legend(fontsize=6)
    top.set_ylabel("sigma (mean +- std over logits)")
    bottom.set_ylabel("spread of mu (std over logits)")
    bottom.set_xlabel("search epoch")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_eigenvalue(runs: Runs, path: str | Path, log: bool = False) -> Path:
    """Dominant Hessian eigenvalue vs epoch (top) above test error of the pick (bottom)."""
    t = runs.trajectories
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    if _band(top, t, "dominant_eigenvalue", exclude=_diverged(runs)):
        top.legend()
    else:
        _empty(top, "dominant_eigenvalue column")
    top.set_ylabel("dominant eigenvalue of the\nvalidation-loss Hessian (alpha)")
    if log:
        top.set_yscale("log")
    err = t.assign(test_error=100.0 - t["gt_test_acc"]) if len(t) and "gt_test_acc" in t else t
    if not _band(bottom, err, "test_error", label_n=False, exclude=_diverged(runs)):
        _empty(bottom, "ground-truth test accuracy")
    bottom.set_ylabel("test error of the pick (%)")
    bottom.set_xlabel("search epoch")
    for a in (top, bottom):
        a.grid(alpha=0.3)
    return _save(fig, path)


def kendall_tau(x, y) -> tuple[float, int]:
    """Kendall tau-b over the pairs where both values are finite, and that count."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return math.nan, int(ok.sum())
    return float(stats.kendalltau(x[ok], y[ok]).statistic), int(ok.sum())


def plot_scatter(oneshot, truth, path: str | Path, xlabel: str = "one-shot accuracy (%)",
                 ylabel: str = "ground-truth test accuracy (%)", title: str = "") -> Path:
    """One-shot vs ground-truth scatter, Kendall tau (and n) in the title."""
    tau, n = kendall_tau(oneshot, truth)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(oneshot, truth, s=10, alpha=0.6, color=optimizer_color("oneshot"))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=f"{title + ': ' if title else ''}Kendall tau = {tau:.3f} (n={n})")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_histograms(rows: pd.DataFrame, path: str | Path, value: str = "test_acc", by: str = "seen",
                    title: str = "") -> Path:
    """Histograms of ``value`` for seen (``by`` true) and unseen architectures, on shared bins."""
    fig, ax = plt.subplots(figsize=(5, 4))
    v = pd.to_numeric(rows[value], errors="coerce").dropna() if len(rows) else pd.Series(dtype=float)
    if len(v):
        edges = np.linspace(v.min(), v.max() + 1e-6, 16)
        seen = rows[by].astype(str).str.lower().isin(["true", "1"])
        for flag, lab, c in ((True, "seen", "tab:blue"), (False, "unseen", "tab:orange")):
            part = pd.to_numeric(rows.loc[seen == flag, value], errors="coerce").dropna()
            if len(part):
                ax.hist(part, bins=edges, alpha=0.6, color=c, label=f"{lab} (n={len(part)})")
        ax.legend()
    else:
        _empty(ax, value)
    ax.set(xlabel=value.replace("_", " "), ylabel="architectures", title=title)
    return _save(fig, path)


def plot_ensemble(curves: Mapping[str, pd.DataFrame], path: str | Path, value: str = "gain") -> Path:
    """Ensemble gain (or accuracy) vs members, one curve per label (e.g. pool size)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for label, c in curves.items():
        ax.plot(c["members"], c[value], marker=".", label=str(label))
    if curves:
        ax.legend()
    else:
        _empty(ax, "ensemble curves")
    ax.set(xlabel="architectures averaged (softmax)", ylabel=f"ensemble {value} (% points)"
           if value == "gain" else f"ensemble {value}")
    if value == "gain":
        ax.axhline(0, color="gray", linewidth=0.8)
    ax.grid(alpha=0.3)
    return _save(fig, path)
