"""Figures (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from harness.aggregate import Runs  # noqa: E402

_PALETTE = plt.get_cmap("tab10").colors


def optimizer_color(name: str, names: list[str]) -> tuple:
    """One colour per optimizer, stable for a given sorted name list."""
    return _PALETTE[sorted(names).index(name) % len(_PALETTE)]


def plot_regret(runs: Runs, path: str | Path, log: bool = False, x: str = "epoch") -> Path:
    """Anytime test regret vs ``x`` (epoch or wall_seconds): mean and standard-error band per optimizer."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = runs.trajectories
    fig, ax = plt.subplots(figsize=(6, 4))
    names = sorted(t["optimizer"].unique()) if len(t) else []
    for name in names:
        g = t[t["optimizer"] == name]
        piv = g.pivot_table(index="epoch", columns="seed", values="test_regret")
        xs = piv.index.to_numpy() + 1 if x == "epoch" else g.groupby("epoch")[x].mean().to_numpy()
        m = piv.mean(axis=1).to_numpy()
        n = piv.count(axis=1).to_numpy()
        se = np.where(n > 1, piv.std(axis=1, ddof=1).to_numpy() / np.sqrt(np.maximum(n, 1)), 0.0)
        c = optimizer_color(name, names)
        ax.plot(xs, m, label=f"{name} (n={int(n.max()) if len(n) else 0})", color=c)
        ax.fill_between(xs, m - se, m + se, color=c, alpha=0.2)
    ax.set_xlabel("search epoch" if x == "epoch" else "search wall-clock (s)")
    ax.set_ylabel("test regret (% points)")
    if log:
        ax.set_yscale("symlog", linthresh=0.1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    if path.suffix == ".png":
        fig.savefig(path.with_suffix(".pdf"))
    plt.close(fig)
    return path
