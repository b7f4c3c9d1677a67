"""Loading finished runs into data frames and summarising them over seeds."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Runs:
    """All loaded runs: ``finals`` one row per run, ``trajectories`` one row per run-epoch."""

    finals: pd.DataFrame
    trajectories: pd.DataFrame


def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories (holding ``config.json``) at or below ``paths``."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "config.json").is_file():
            out.append(p)
        elif p.is_dir():
            out.extend(sorted(c.parent for c in p.rglob("config.json")))
    return out


def load_runs(paths: Iterable[str | Path]) -> Runs:
    """Load every run under ``paths`` (config flattened into columns)."""
    finals, trajs = [], []
    for d in find_run_dirs(paths):
        cfg = json.loads((d / "config.json").read_text())
        flat = {f"config.{k}": (json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
                for k, v in cfg["run"].items()}
        base = {"run_id": cfg["run_id"], "run_dir": str(d), "optimizer": cfg["run"]["optimizer"],
                "seed": cfg["run"]["seed"], **flat}
        final_p = d / "final.json"
        final = json.loads(final_p.read_text()) if final_p.is_file() else {"status": "unfinished"}
        finals.append({**base, **{k: v for k, v in final.items() if not isinstance(v, dict)}})
        tp = d / "trajectory.csv"
        if tp.is_file() and tp.stat().st_size:
            t = pd.read_csv(tp)
            for k, v in base.items():
                t[k] = v
            trajs.append(t)
    return Runs(pd.DataFrame(finals), pd.concat(trajs, ignore_index=True) if trajs else pd.DataFrame())


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample std (ddof=1; 0 for one value) and count of the finite values."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v)


def summary_table(runs: Runs) -> str:
    """Plain-text table: final test accuracy and regret, mean +- std over seeds, per optimizer."""
    f = runs.finals
    lines = [f"{'optimizer':14s} {'test acc (%)':>16s} {'test regret':>16s} {'seeds':>5s} {'diverged':>8s}"]
    for opt, g in f.groupby("optimizer", sort=True):
        ok = g[g["status"] == "finished"]
        acc = mean_std(ok["gt_test_acc"])
        reg = mean_std(ok["test_regret"])
        lines.append(f"{opt:14s} {acc[0]:8.2f} +- {acc[1]:5.2f} {reg[0]:8.2f} +- {reg[1]:5.2f} "
                     f"{acc[2]:5d} {int((g['status'] == 'diverged').sum()):8d}")
    return "\n".join(lines)
