"""Loading finished runs into data frames and summarising them over seeds."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.run.files import read_final, read_run_config
from search_spaces import safe_read
from search_spaces.io import atomic_write_bytes
from search_spaces.errors import UserError


@dataclass
class Runs:
    """All loaded runs: ``finals`` one row per run, ``trajectories`` one row per run-epoch."""

    finals: pd.DataFrame
    trajectories: pd.DataFrame


# the runner's numeric columns (``SearchRun._row``); optimizers' own columns are taken as they parse
NUMERIC_TRAJECTORY = {"wall_seconds", "train_loss", "train_acc", "valid_loss", "valid_acc", "gt_valid_acc",
                      "gt_test_acc", "test_regret", "dominant_eigenvalue"}


def read_trajectory(path: Path) -> pd.DataFrame:
    """``trajectory.csv`` (empty frame when absent or empty); ``UserError`` naming the row when damaged."""
    if not path.exists():
        return pd.DataFrame()
    text = safe_read.read_text(path, "trajectory")
    if not text.strip():
        return pd.DataFrame()
    try:
        t = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} is damaged ({first})") from None
    if "epoch" not in t.columns:
        raise UserError(f"{path} is not a trajectory (no 'epoch' column)")
    bad = t.index[pd.to_numeric(t["epoch"], errors="coerce").isna()]
    if len(bad):
        raise UserError(f"{path}: row {int(bad[0]) + 2} is incomplete or not a number in 'epoch' (a truncated file?)")
    t["epoch"] = pd.to_numeric(t["epoch"])
    for c in NUMERIC_TRAJECTORY & set(t.columns):
        num = pd.to_numeric(t[c], errors="coerce")
        bad = t.index[num.isna() & t[c].notna()]
        if len(bad):
            raise UserError(f"{path}: row {int(bad[0]) + 2} holds a non-number in {c!r} (a damaged file)")
        t[c] = num
    if len(t) and list(t["epoch"]) != list(range(len(t))):
        raise UserError(f"{path}: epochs are not 0, 1, ... in order (a damaged or hand-edited file)")
    return t


def read_run(d: Path) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame]:
    """``(config, final or {}, trajectory)`` of run folder ``d``, each validated; ``final.json`` must agree with
    the trajectory (a run is never counted finished on fewer epochs than it has)."""
    cfg = read_run_config(d)
    t = read_trajectory(d / "trajectory.csv")
    epochs = cfg["run"].get("epochs")
    final = (read_final(d, len(t), epochs if type(epochs) is int else None)
             if (d / "final.json").exists() else {})
    return cfg, final, t


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
    finals, trajs, configs = [], [], []
    for d in find_run_dirs(paths):
        cfg, final, t = read_run(d)
        flat = {f"config.{k}": (json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
                for k, v in cfg["run"].items()}
        gt = (cfg.get("resolved") or {}).get("ground_truth") or {}
        base = {"run_id": cfg.get("run_id") or d.name, "run_dir": str(d), "optimizer": cfg["run"]["optimizer"],
                "seed": cfg["run"]["seed"], "gt_benchmark": gt.get("benchmark"), "gt_dataset": gt.get("dataset"),
                "gt_epochs": gt.get("epochs"), "steps_per_epoch": (cfg.get("resolved") or {}).get("steps_per_epoch"),
                **flat}
        configs.append({"run_id": base["run_id"], "optimizer": cfg["run"]["optimizer"], **run_config_columns(cfg)})
        final = final or {"status": "unfinished"}
        finals.append({**base, **{k: v for k, v in final.items() if not isinstance(v, dict)}})
        if len(t):
            for k, v in base.items():
                t[k] = v
            trajs.append(t)
    labels = setting_labels(pd.DataFrame(configs)) if configs else {}
    f = pd.DataFrame(finals)
    t = pd.concat(trajs, ignore_index=True) if trajs else pd.DataFrame()
    for frame in (f, t):
        if len(frame):
            frame["setting"] = frame["run_id"].map(labels).fillna("")
    return Runs(f, t)


def group_label(optimizer: str, setting: str | None) -> str:
    """How figures and summaries name a group of seeds: ``darts`` or ``darts [w_lr=0.1]``."""
    return f"{optimizer} [{setting}]" if setting else str(optimizer)


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, sample std (ddof=1; 0 for one value) and count of the finite values."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v)


def summary_table(runs: Runs) -> str:
    """Plain-text table: final test accuracy and regret, mean +- std over seeds, per optimizer."""
    f = runs.finals
    if not len(f):
        return "no runs"
    f = f.assign(group=[group_label(o, s) for o, s in zip(f["optimizer"], f.get("setting", [""] * len(f)))])
    width = max([14, *(len(x) for x in f["group"])])
    lines = [f"{'optimizer':{width}s} {'test acc (%)':>16s} {'test regret':>16s} {'seeds':>5s} {'diverged':>8s}"]
    for opt, g in f.groupby("group", sort=True):
        ok = g[g["status"] == "finished"]
        acc = mean_std(ok["gt_test_acc"])
        reg = mean_std(ok["test_regret"])
        lines.append(f"{opt:{width}s} {_pm(acc)} {_pm(reg)} {len(ok):5d} {int((g['status'] == 'diverged').sum()):8d}")
    return "\n".join(lines)


def _pm(ms: tuple[float, float, int]) -> str:
    """``mean +- std`` in 16 characters; one seed has no spread (``+-   n/a``), no value is ``n/a``."""
    m, sd, n = ms
    if n == 0:
        return f"{'n/a':>16s}"
    return f"{m:8.2f} +- {sd:5.2f}" if n > 1 else f"{m:8.2f} +-   n/a"


# -- long format -------------------------------------------------------------
#: Config fields that never distinguish a setting: the seed is averaged over, the
#: device and file locations do not change results, the dataset is a table column.
_NOT_SETTING = {"seed", "device", "data_dir", "benchmark_file", "dataset", "benchmark_dataset", "optimizer"}
#: Per-run columns of the long frame, before the flattened config.
RUN_COLUMNS = ["run_id", "run_dir", "optimizer", "setting", "seed", "benchmark", "dataset", "status",
               "reason", "last_epoch"]


#: Bookkeeping of an imported run (``harness import``) that never distinguishes a setting.
_IMPORT_BOOKKEEPING = {"source", "path", "seed", "job", "hessian_logged", "weight_decay"}  # wd: in optimizer_config


def run_config_columns(cfg: dict) -> dict:
    """The ``config.*`` columns of a run: its run config, plus what an imported run's source varied that a
    RunConfig cannot express (RobustDARTS's drop-path rate: ``config.imported.drop_path_prob``), so settings
    that differ only there are told apart in tables and figures."""
    imported = cfg.get("imported") if isinstance(cfg.get("imported"), dict) else {}
    extra = {k: v for k, v in imported.items() if k not in _IMPORT_BOOKKEEPING and not isinstance(v, (dict, list))}
    return {**flatten_config(cfg["run"]), **flatten_config(extra, "config.imported.")}


def flatten_config(run: dict, prefix: str = "config.") -> dict:
    """``{"optimizer_config": {"lr": 1}}`` -> ``{"config.optimizer_config.lr": 1}`` (nested keys joined by dots)."""
    out = {}
    for k, v in run.items():
        if isinstance(v, dict):
            out.update(flatten_config(v, f"{prefix}{k}."))
        elif isinstance(v, (list, tuple)):
            out[f"{prefix}{k}"] = json.dumps(v)
        else:
            out[f"{prefix}{k}"] = v
    return out


def load_frame(paths: Iterable[str | Path], dropped: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Every run under ``paths`` as one long data frame: one row per (run, epoch, quantity).

    ``quantity`` is a numeric trajectory column (``gt_test_acc``, ``test_regret``,
    ``train_loss``, ``dominant_eigenvalue``, ...) and ``value`` its value at ``epoch``
    (0-based, as in ``trajectory.csv``); ``epochs_done`` is ``epoch + 1``, the count that progress lines,
    figures and ``harness table --epoch N`` use; ``is_final`` marks each run's last epoch.
    Run columns (``RUN_COLUMNS``) and the run config flattened into ``config.*``
    columns repeat on every row, so any grouping is a plain ``groupby``. Runs
    without a trajectory keep one row with a null quantity, so they are counted.
    A run whose files are damaged (``read_run``) is left out and, when ``dropped`` is
    given, listed there as ``(run folder, reason)``; without it the damage is an error.
    """
    parts = []
    for d in find_run_dirs(paths):
        try:
            cfg, final, t = read_run(d)
        except UserError as e:
            if dropped is None:
                raise
            dropped.append((str(d), str(e)))
            continue
        run = cfg["run"]
        status = final.get("status") or ("failed" if (d / "failed.json").is_file() else "unfinished")
        base = {"run_id": cfg.get("run_id") or d.name, "run_dir": str(d), "optimizer": run.get("optimizer"),
                "seed": run.get("seed"), "benchmark": run.get("benchmark"),
                "dataset": run.get("benchmark_dataset") or run.get("dataset"), "status": status,
                "reason": final.get("reason"), **run_config_columns(cfg)}
        if len(t):
            ids = [c for c in ("epoch", "wall_seconds", "arch") if c in t]
            vals = [c for c in t.columns if c not in ids and pd.api.types.is_numeric_dtype(t[c])]
            long = t.melt(id_vars=ids, value_vars=vals, var_name="quantity", value_name="value")
            long["is_final"] = long["epoch"] == t["epoch"].max()
            long["epochs_done"] = long["epoch"] + 1  # 1-based, as progress lines, figures and --epoch N say
            base["last_epoch"] = int(t["epoch"].max())
        else:
            long = pd.DataFrame({"epoch": [pd.NA], "quantity": [None], "value": [float("nan")], "is_final": [True]})
            base["last_epoch"] = None
        for k, v in base.items():
            long[k] = v
        parts.append(long)
    if not parts:
        return pd.DataFrame(columns=[*RUN_COLUMNS, "epoch", "quantity", "value", "is_final"])
    df = pd.concat(parts, ignore_index=True)
    df["setting"] = _settings(df)
    first = [c for c in [*RUN_COLUMNS, "epoch", "epochs_done", "wall_seconds", "arch", "quantity", "value",
                         "is_final"] if c in df]
    return df[first + sorted(c for c in df.columns if c not in first)]


def _settings(df: pd.DataFrame) -> pd.Series:
    """Per optimizer, the config fields that differ between its runs, as ``k=v, ...`` ("" if none)."""
    return df["run_id"].map(setting_labels(df.drop_duplicates("run_id"))).fillna("")


def setting_labels(runs: pd.DataFrame) -> dict[str, str]:
    """``run_id -> "k=v, ..."``: the flattened ``config.*`` fields that differ between the runs of one optimizer
    (the same rule for tables, figures and summaries)."""
    label: dict[str, str] = {}
    for _, g in runs.groupby("optimizer", dropna=False):
        keys = [c for c in g.columns if c.startswith("config.") and c.split(".", 2)[1] not in _NOT_SETTING
                and g[c].astype(str).nunique(dropna=False) > 1]
        for _, r in g.iterrows():
            label[r["run_id"]] = ", ".join(f"{k.rsplit('.', 1)[-1]}={_short(r[k])}" for k in sorted(keys)
                                           if not _missing(r[k]))
    return label


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _short(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def save_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    """Write the long frame as parquet; object columns mixing types (e.g. 1 and "mean") become strings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            kinds = {type(v) for v in out[c] if not _missing(v) and v is not pd.NA}
            if kinds and kinds <= {int, float}:
                out[c] = pd.to_numeric(out[c], errors="coerce")
            elif len(kinds) > 1 or (kinds and not kinds <= {str, bool, int, float}):
                out[c] = out[c].map(lambda v: None if _missing(v) or v is pd.NA else str(v))
    buf = io.BytesIO()  # written atomically: a killed `table --dataframe` never leaves half a parquet file
    out.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())
    return path
