"""Figures (matplotlib Agg: no display needed). Each is saved as PNG and, next to it, PDF.

Colours come from a fixed mapping of optimizer names, so an optimizer has the
same colour in every figure, whichever others share the plot.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from harness.reporting.aggregate import Runs  # noqa: E402

#: Saturated, mutually distinct colours (tab10, then darker companions): no pale shades, so every curve
#: stays visible on white and in print.
_PALETTE = [*plt.get_cmap("tab10").colors, "#000000", "#393b79", "#637939", "#843c39", "#e7298a", "#1b9e77",
            "#bd9e39", "#6b6ecf", "#66a61e", "#7b4173", "#d6616b", "#5254a3", "#8ca252", "#a55194"]
#: The built-in optimizers (and the random baseline) get fixed colours, one each, so an optimizer looks the
#: same in every figure.
_KNOWN = ["darts", "gdas", "rsws", "setn", "enas", "snas", "pc-darts", "sdarts-rs", "drnas", "balenas", "vim-nas",
          "nsa", "oneshot", "random", "darts-2nd", "darts-es", "darts-ada", "darts-dp", "sdarts-adv", "balenas-tf",
          "balenas-1st", "snas-bilevel", "vim-nas-p", "vim-nas-dropout"]
_FIXED = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(_KNOWN[:len(_PALETTE)])}
#: Line styles that tell apart the settings of one optimizer (same colour).
_STYLES = ["-", "--", ":", "-."]


def optimizer_color(name: str, names: list[str] | None = None) -> tuple | str:
    """The colour of ``name``: fixed for built-in optimizers; any other name takes, in sorted order, a palette
    colour that no other name of ``names`` (the figure's) uses, so new names never collide or fade."""
    if name in _FIXED:
        return _FIXED[name]
    pool = set(names or []) | {name}
    others = sorted((n for n in pool if n not in _FIXED), key=str)
    taken = {_FIXED[n] for n in pool if n in _FIXED}
    free = [c for c in _PALETTE if c not in taken] or list(_PALETTE)
    return free[others.index(name) % len(free)]


def _epoch_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def caption(runs: Runs, quantity: str, band: bool = True, groups: set[tuple[str, str]] | None = None) -> str:
    """One line under a figure: space, dataset, ground truth (benchmark, split, budget) and what the band is;
    with ``groups``, of the (optimizer, setting) groups drawn only."""
    f = runs.finals
    if groups is not None and len(f):
        sett = f["setting"].fillna("").astype(str) if "setting" in f else pd.Series("", index=f.index)
        f = f[[(str(o), s) in groups for o, s in zip(f["optimizer"], sett)]]

    def values(col: str) -> str:
        v = sorted({str(x) for x in f[col].dropna()}) if len(f) and col in f else []
        return ", ".join(v) or "?"

    parts = [f"space {values('config.space')}", f"dataset {values('config.dataset')}"]
    if len(f) and "gt_benchmark" in f and f["gt_benchmark"].notna().any():
        parts.append(f"{quantity} from {values('gt_benchmark')} ({values('gt_dataset')}, test split, "
                     f"{values('gt_epochs')}-epoch budget, seed mean)")
    if band:
        parts.append("line: mean over seeds, band: ±1 standard error (n in the legend)")
    return "; ".join(parts)


def _with_caption(fig, text: str) -> None:
    fig.text(0.01, 0.005, text, fontsize=6.5, color="#444", ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, 1))


def _save(fig, path: str | Path) -> Path:
    """Save ``path`` (PNG or PDF) and the other of the two formats beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not fig.texts:  # a captioned figure has its layout already
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


def _groups(t: pd.DataFrame) -> list[tuple[str, str]]:
    """(optimizer, setting) pairs of ``t``, sorted; the setting is "" for runs of an optimizer's only setting."""
    sett = t["setting"] if "setting" in t else pd.Series("", index=t.index)
    return sorted({(str(o), str(s or "")) for o, s in zip(t["optimizer"], sett) if pd.notna(o)})


def _band(ax, t: pd.DataFrame, value: str, x: str = "epoch", label_n: bool = True,
          exclude: set[str] | frozenset[str] = frozenset(), only: set[tuple[str, str]] | None = None
          ) -> set[tuple[str, str]]:
    """Mean and standard-error band of ``value`` per (optimizer, setting), as the tables group runs; returns
    the groups drawn (empty: nothing drawn). Colour = optimizer, line style = setting; the legend names both.

    Runs in ``exclude`` (diverged ones) are left out of the mean, as in the tables,
    and counted in the legend instead. ``only`` restricts the groups drawn.
    """
    drawn: set[tuple[str, str]] = set()
    if not len(t) or value not in t:
        return drawn
    sett = t["setting"].fillna("").astype(str) if "setting" in t else pd.Series("", index=t.index)
    todo = []  # colours and line styles are chosen among the groups drawn, never among all
    for name, setting in _groups(t):
        if only is not None and (name, setting) not in only:
            continue
        g = t[(t["optimizer"] == name) & (sett == setting)]
        left_out = g["run_id"].isin(exclude) if "run_id" in g else pd.Series(False, index=g.index)
        n_out = g.loc[left_out, "run_id"].nunique() if left_out.any() else 0
        g = g[~left_out]
        if g[value].notna().any():
            todo.append((name, setting, g, n_out))
    names = sorted({n for n, *_ in todo})
    for k, (name, setting, g, n_out) in enumerate(todo):
        mine = [s for n, s, *_ in todo if n == name]
        if len(mine) <= len(_STYLES):  # colour = optimizer, line style = its setting
            c, style = optimizer_color(name, names), _STYLES[mine.index(setting)]
        else:  # more settings than line styles: each group its own colour
            c, style = plt.get_cmap("tab20")(k % 20), _STYLES[(k // 20) % len(_STYLES)]
        piv = g.pivot_table(index="epoch", columns="seed", values=value)
        if x == "epoch":
            xs = piv.index.to_numpy() + 1
        elif x == "steps":
            xs = (piv.index.to_numpy() + 1) * g.groupby("epoch")["steps_per_epoch"].first().reindex(piv.index).to_numpy()
        else:
            xs = g.groupby("epoch")[x].mean().reindex(piv.index).to_numpy()
        m, se, n = _mean_se(piv)
        note = f"n={int(n.max())}" + (f", {n_out} diverged left out" if n_out else "")
        label = f"{name} [{setting}]" if setting else name
        ax.plot(xs, m, label=f"{label} ({note})" if label_n else label, color=c, linestyle=style)
        ax.fill_between(xs, m - se, m + se, color=c, alpha=0.2, linewidth=0)
        drawn.add((name, setting))
    if x == "epoch":
        _epoch_ticks(ax)
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


def plot_regret(runs: Runs, path: str | Path, log: bool | None = None, x: str = "epoch") -> Path:
    """Anytime test regret vs ``x``: ``epoch``, ``steps`` (search steps: comparable across machines) or
    ``wall_seconds`` (machine- and load-dependent, said on the axis); mean and standard-error band per
    (optimizer, setting). ``log`` None: a symlog axis when the drawn curves span more than 10x."""
    t = runs.trajectories
    if x == "steps" and "steps_per_epoch" not in t:
        x = "epoch"  # runs written before steps were recorded
    fig, ax = plt.subplots(figsize=(6, 4.4))
    drawn = _band(ax, t, "test_regret", x, exclude=_diverged(runs))
    if drawn:
        ax.legend(fontsize=7)
    else:
        _empty(ax, "test regret")
    ax.set_xlabel({"epoch": "search epoch", "steps": "search steps (architecture + weight updates)",
                   "wall_seconds": "search wall-clock (s): depends on the machine and its load"}.get(x, x))
    ax.set_ylabel(regret_label(t))
    if log is None:
        log = wide_range(t["test_regret"]) if drawn else False
    if log:
        # symlog: a regret of exactly 0 (the optimum found) stays on the plot.
        ax.set_yscale("symlog", linthresh=0.1)
    ax.grid(alpha=0.3)
    _with_caption(fig, caption(runs, "regret", groups=drawn) + ("; y axis symlog" if log else ""))
    return _save(fig, path)


def wide_range(v, ratio: float = 10.0) -> bool:
    """Whether the positive finite values span more than ``ratio`` (a linear axis would flatten the small)."""
    v = pd.to_numeric(pd.Series(v), errors="coerce")
    v = v[np.isfinite(v) & (v > 0)]
    # values below 0.1 count as 0.1: the symlog axis is linear there (linthresh), so they gain nothing from it
    return bool(len(v)) and float(v.max()) > ratio * max(float(v.min()), 0.1)


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
    """Dominant Hessian eigenvalue vs epoch (top) above test error of the pick (bottom), for the
    (optimizer, setting) groups that logged the eigenvalue; both panels carry a legend."""
    t = runs.trajectories
    err = t.assign(test_error=100.0 - t["gt_test_acc"]) if len(t) and "gt_test_acc" in t else t
    with_gt = "test_error" in err and err["test_error"].notna().any()
    # the lower panel only when the runs with eigenvalues have ground truth (imported logs have none)
    fig, axes = plt.subplots(2 if with_gt else 1, 1, figsize=(6, 6.6 if with_gt else 4.4), sharex=True,
                             squeeze=False)
    top = axes[0][0]
    have = _band(top, t, "dominant_eigenvalue", exclude=_diverged(runs))
    if have:
        top.legend(fontsize=7)
    else:
        _empty(top, "dominant_eigenvalue column")
    top.set_ylabel("dominant eigenvalue of the\nvalidation-loss Hessian (alpha)")
    if log:
        top.set_yscale("log")
    if with_gt:
        bottom = axes[1][0]
        if not (have and _band(bottom, err, "test_error", label_n=False, exclude=_diverged(runs), only=have)):
            _empty(bottom, "ground truth")
        else:
            bottom.legend(fontsize=7)
        bottom.set_ylabel("test error of the pick (%)")
    last = axes[-1][0]
    last.set_xlabel("search epoch")
    _epoch_ticks(last)
    for a in axes.flat:
        a.grid(alpha=0.3)
    _with_caption(fig, caption(runs, "test error", groups=have))
    return _save(fig, path)


def robust_limits(v, pad: float = 0.05, fence: float = 3.0) -> tuple[float, float] | None:
    """Axis limits covering every value inside Tukey's far fences (quartiles -+ ``fence`` x IQR), padded: one
    broken evaluation cannot squash the rest, and ordinary extremes stay in view. None when nothing lies outside."""
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 10:
        return None
    q1, q3 = np.quantile(v, [0.25, 0.75])
    inside = v[(v >= q1 - fence * (q3 - q1)) & (v <= q3 + fence * (q3 - q1))]
    if len(inside) == len(v) or not len(inside) or np.ptp(inside) == 0:
        return None
    lo, hi = float(inside.min()), float(inside.max())
    return lo - pad * (hi - lo), hi + pad * (hi - lo)


def scatter_panel(ax, x, y, xlabel: str, ylabel: str, title: str = "", top: float = 0.1, color=None) -> None:
    """Draw ``y`` against ``x`` on ``ax``: the title states Kendall tau, Spearman rho and the top-``top``
    precision (``harness.metrics.rank``: rank statistics, robust to outliers); the axes leave out points beyond
    Tukey's far fences and say how many."""
    from harness.metrics.rank import rank_correlations

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    st = rank_correlations(x, y, (top,))
    tau, rho, n, prec = st["kendall_tau"], st["spearman_rho"], st["n"], st[f"top{round(100 * top):g}pct_precision"]
    ax.scatter(x, y, s=10, alpha=0.6, color=color or optimizer_color("oneshot"))
    outside = 0
    for lim, v, setter in ((robust_limits(x[ok]), x[ok], ax.set_xlim), (robust_limits(y[ok]), y[ok], ax.set_ylim)):
        if lim:
            setter(*lim)
            outside += int(((v < lim[0]) | (v > lim[1])).sum())
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.set_title(f"{title + chr(10) if title else ''}Kendall tau {tau:.3f}, Spearman rho {rho:.3f}, "
                 f"top-{round(top * 100)}% precision {prec:.2f} (n={n})", fontsize=8.5)
    ax.grid(alpha=0.3)
    if outside:
        ax.text(0.99, 0.01, f"{outside} outlier(s) beyond 3 IQR not shown", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=7, color="#666")


def plot_scatter(oneshot, truth, path: str | Path, xlabel: str = "one-shot accuracy (%)",
                 ylabel: str = "ground-truth test accuracy (%)", title: str = "", top: float = 0.1) -> Path:
    """One-shot vs ground-truth scatter (``scatter_panel``)."""
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    scatter_panel(ax, oneshot, truth, xlabel, ylabel, title, top)
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
