"""``harness compare``: which differences between optimizers are real, by how much, and how sure we are.

Runs are grouped into **settings** (what must match for a comparison: space, dataset, benchmark and its
budget, regret convention, protocol family, size fields, and every run-level value the user overrode) and,
inside a setting, into **competitors** (optimizer plus its own overrides, as the tables label them). Settings
are never pooled. Per setting: mean, std, n and a bootstrap interval per competitor; each competitor against
``against`` (default: every pair) with the difference, its 95 % interval (Welch's t; a paired t when seeds
pair), a rank test (Mann-Whitney U or Wilcoxon signed-rank), Holm's correction within the setting, Hedges' g
and Cliff's delta, the smallest difference these n detect and the seeds a difference would need; anytime:
the area under the metric's curve (mean over epochs) and when a threshold is first reached. Across
settings: average ranks, Friedman's test, Nemenyi's critical difference (``harness.metrics.rank_tests``).

Runs pair by seed only where the harness knows the seed fixed the same supernet initialisation and data
order for both: same seed, same resolved supernet config, batch size, dataset and subset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.metrics import rank_tests, stats
from harness.reporting.aggregate import find_run_dirs, read_run
from search_spaces.errors import ConfigError, UserError

ALIASES = {"test_acc": "gt_test_acc", "valid_acc": "gt_valid_acc", "regret": "test_regret"}
#: Run fields that define a setting (the rest: seed, device, paths, the optimizer's own values).
SETTING_FIELDS = ("space", "dataset", "benchmark", "benchmark_dataset", "benchmark_epochs", "benchmark_seed",
                  "regret", "subset", "channels", "depth")


def higher_is_better(metric: str) -> bool:
    """Accuracies are better high; regret, error and loss low."""
    return not any(w in metric for w in ("regret", "error", "loss"))


@dataclass(frozen=True)
class CompareConfig:
    """What ``harness compare`` computes.

    Attributes:
        metric: Trajectory column (``test_regret``, ``test_acc`` = ``gt_test_acc``, ``valid_acc``, ...).
        epoch: ``"final"`` or N (the value after N search epochs; shorter runs are left out, said so).
        against: Competitor (or optimizer) every other is compared with; None: every pair.
        alpha: Level of the tests and intervals (two-sided).
        threshold: Metric value for time-to-threshold (default: none reported).
        delta: Difference the seeds-needed column is computed for (default: each pair's observed difference).
    """

    metric: str = "test_regret"
    epoch: str | int = "final"
    against: str | None = None
    alpha: float = 0.05
    threshold: float | None = None
    delta: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", ALIASES.get(self.metric, self.metric))
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"alpha must lie in (0, 0.5), got {self.alpha}")
        if self.epoch != "final" and (not isinstance(self.epoch, int) or self.epoch < 1):
            raise ConfigError(f"epoch must be 'final' or a positive integer, got {self.epoch!r}")


@dataclass
class Comparison:
    """The result: ``runs`` (one row per run), ``summary`` (per setting and competitor), ``pairs`` (per setting
    and pair), ``ranks`` (average rank per optimizer across settings) and the across-setting tests."""

    config: CompareConfig
    runs: pd.DataFrame
    summary: pd.DataFrame
    pairs: pd.DataFrame
    ranks: pd.DataFrame = field(default_factory=pd.DataFrame)
    friedman: rank_tests.Friedman | None = None
    cd: float | None = None
    notes: list[str] = field(default_factory=list)


def _setting(run: dict, overrides: dict) -> str:
    family = str(run.get("protocol") or "").split("/")[0]
    parts = [f"{run.get('space')}/{run.get('dataset')}", f"benchmark {run.get('benchmark')}"]
    parts += [f"{k}={run[k]}" for k in SETTING_FIELDS[3:] if run.get(k) not in (None, "mean", "table")]
    parts += [f"protocol {family}"] if family else []
    parts += [f"{k}={v}" for k, v in sorted(overrides.items()) if k in run and k != "optimizer_config"]
    return ", ".join(parts)


def _competitor(run: dict) -> str:
    own = run.get("optimizer_config") or {}
    return str(run.get("optimizer")) + (f" [{', '.join(f'{k}={v}' for k, v in sorted(own.items()))}]" if own else "")


def load_runs(paths: Iterable[str | Path], cfg: CompareConfig) -> tuple[pd.DataFrame, list[str]]:
    """One row per run: setting, competitor, seed, pairing key, status, the metric at ``cfg.epoch``, its
    trajectory and the cumulative search seconds per epoch."""
    rows, notes = [], []
    for d in find_run_dirs(paths):
        c, final, t = read_run(d)
        run, resolved = c["run"], c.get("resolved") or {}
        status = final.get("status", "unfinished")
        overrides = ((resolved.get("protocol") or {}).get("overrides") or {})
        traj = t[cfg.metric].astype(float).tolist() if cfg.metric in t else []
        secs = t["wall_seconds"].astype(float).tolist() if "wall_seconds" in t else []
        if cfg.epoch == "final":
            value = traj[-1] if traj else math.nan
        else:
            value = traj[cfg.epoch - 1] if len(traj) >= cfg.epoch else math.nan
            if traj and len(traj) < cfg.epoch:
                notes.append(f"{c.get('run_id', d.name)}: {len(traj)} epochs, shorter than --epoch {cfg.epoch}")
        pair = json.dumps([resolved.get("supernet"), run.get("batch_size"), run.get("dataset"), run.get("subset")],
                          sort_keys=True, default=str)
        rows.append({"run_id": c.get("run_id", d.name), "run_dir": str(d), "setting": _setting(run, overrides),
                     "competitor": _competitor(run), "optimizer": run.get("optimizer"), "seed": run.get("seed"),
                     "pair_key": pair, "status": status, "value": value, "trajectory": traj, "seconds": secs})
    if not rows:
        raise UserError(f"no runs (folders with config.json) under {', '.join(map(str, paths))}")
    df = pd.DataFrame(rows)
    if not df["trajectory"].map(len).any():
        raise UserError(f"no run has a {cfg.metric!r} column in its trajectory.csv")
    return df, notes


def _anytime(g: pd.DataFrame, cfg: CompareConfig) -> dict:
    """Area under the metric curve (mean over epochs, i.e. normalised to the budget) and first epoch /
    search seconds at which the threshold is reached (lower-is-better metrics: <=, else >=)."""
    aucs = [float(np.mean(t)) for t in g["trajectory"] if t]
    out = {"auc": float(np.mean(aucs)) if aucs else math.nan, "auc_std": stats.sample_std(aucs)}
    if cfg.threshold is not None:
        better = (lambda v: v >= cfg.threshold) if higher_is_better(cfg.metric) else (lambda v: v <= cfg.threshold)
        epochs, secs = [], []
        for t, s in zip(g["trajectory"], g["seconds"]):
            hit = next((i for i, v in enumerate(t) if better(v)), None)
            if hit is not None:
                epochs.append(hit + 1)
                secs.append(s[hit] if hit < len(s) else math.nan)
        out.update({"reached": f"{len(epochs)}/{len(g)}", "epochs_to_threshold": float(np.median(epochs))
                    if epochs else math.nan, "seconds_to_threshold": float(np.median(secs)) if secs else math.nan})
    return out


def _pair(a: pd.DataFrame, b: pd.DataFrame, cfg: CompareConfig) -> dict:
    ka = dict(zip(a["seed"], zip(a["pair_key"], a["value"])))
    kb = dict(zip(b["seed"], zip(b["pair_key"], b["value"])))
    common = sorted(s for s in set(ka) & set(kb) if ka[s][0] == kb[s][0])
    paired = len(common) >= 2 and len(common) == len(ka) == len(kb)
    va, vb = a["value"].to_numpy(float), b["value"].to_numpy(float)
    if paired:
        d = np.array([ka[s][1] - kb[s][1] for s in common])
        w = stats.from_se(float(d.mean()), stats.sample_std(d) / math.sqrt(len(d)), len(d) - 1, cfg.alpha)
        p_rank, rank_name = rank_tests.rank_test([ka[s][1] for s in common], [kb[s][1] for s in common], True)
    else:
        w = stats.welch(float(va.mean()), stats.sample_std(va), len(va), float(vb.mean()), stats.sample_std(vb),
                        len(vb), cfg.alpha)
        p_rank, rank_name = rank_tests.rank_test(va, vb)
    if paired:  # the spread of the differences: seeds_needed's se sqrt(2 sd^2 / n) is then sd_d / sqrt(n)
        sd = stats.sample_std(d) / math.sqrt(2)
    else:
        sd = math.sqrt((np.var(va, ddof=1) + np.var(vb, ddof=1)) / 2) if len(va) > 1 and len(vb) > 1 else math.nan
    delta = cfg.delta if cfg.delta is not None else abs(w.diff)
    return {"difference": w.diff, "ci_low": w.ci[0], "ci_high": w.ci[1], "p": w.p,
            "test": "paired t" if paired else "Welch t", "p_rank": p_rank, "rank_test": rank_name,
            "hedges_g": rank_tests.hedges_g(va, vb), "cliffs_delta": rank_tests.cliffs_delta(va, vb),
            "paired": paired, "detectable": w.detectable, "delta": delta,
            "seeds_needed": stats.seeds_needed(delta, sd, sd, cfg.alpha) if math.isfinite(sd) else math.nan}


def compare(paths: Iterable[str | Path], cfg: CompareConfig = CompareConfig()) -> Comparison:
    """Compare every competitor of every setting under ``paths`` (see the module docstring)."""
    paths = list(paths)
    runs, notes = load_runs(paths, cfg)
    ok = runs[(runs["status"] == "finished") & runs["value"].notna()]
    if not len(ok):
        raise UserError(f"no finished run with a {cfg.metric!r} value under {', '.join(map(str, paths))} "
                        f"({', '.join(f'{v} {k}' for k, v in runs['status'].value_counts().items())})")
    summary, pairs = [], []
    for setting, sg in ok.groupby("setting", sort=True):
        comps = {c: g for c, g in sg.groupby("competitor", sort=True)}
        for c, g in comps.items():
            v = g["value"].to_numpy(float)
            lo, hi = stats.bootstrap_mean(v, cfg.alpha) if len(v) > 1 else (math.nan, math.nan)
            div = int(((runs["setting"] == setting) & (runs["competitor"] == c) & (runs["status"] == "diverged")).sum())
            summary.append({"setting": setting, "competitor": c, "optimizer": g["optimizer"].iloc[0], "n": len(v),
                            "mean": float(v.mean()), "std": stats.sample_std(v), "boot_low": lo, "boot_high": hi,
                            "diverged": div, **_anytime(g, cfg)})
        names = list(comps)
        if cfg.against is not None:
            ref = [n for n in names if n == cfg.against or n.split(" [")[0] == cfg.against]
            plan = [(n, r) for r in ref[:1] for n in names if n != r]
            if not ref:
                notes.append(f"{setting}: no run of {cfg.against!r}; its pairs are left out")
        else:
            plan = [(x, y) for i, x in enumerate(names) for y in names[i + 1:]]
        rows = [{"setting": setting, "competitor": x, "against": y, **_pair(comps[x], comps[y], cfg)}
                for x, y in plan if len(comps[x]) > 1 and len(comps[y]) > 1]
        for r, h in zip(rows, stats.holm([r["p"] for r in rows])):
            r["p_holm"] = h
            r["significant"] = bool(h < cfg.alpha)
        pairs += rows
    summary_df = pd.DataFrame(summary)
    settings = sorted(ok["setting"].unique())
    for opt in sorted(runs["optimizer"].dropna().unique()):
        lacks = [s for s in settings if not ((ok["setting"] == s) & (ok["optimizer"] == opt)).any()]
        if lacks:
            notes.append(f"{opt} has no finished run in: {'; '.join(lacks)}")
    out = Comparison(cfg, runs, summary_df, pd.DataFrame(pairs), notes=notes)
    _across(out, settings)
    return out


def _across(out: Comparison, settings: list[str]) -> None:
    """Average ranks, Friedman and the Nemenyi CD over the settings every optimizer (default competitor) has."""
    s = out.summary
    if s.empty:
        return
    table = s.pivot_table(index="setting", columns="competitor", values="mean")
    complete = table.dropna(axis=1)
    if len(settings) < 2 or complete.shape[1] < 2:
        out.notes.append("Across settings: needs at least 2 settings and 2 competitors present in all of them "
                         f"(have {len(settings)} settings, {complete.shape[1]} complete competitors).")
        return
    dropped = sorted(set(table.columns) - set(complete.columns))
    if dropped:
        out.notes.append(f"Across settings, left out (missing somewhere): {', '.join(dropped)}")
    higher = higher_is_better(out.config.metric)
    r = rank_tests.average_ranks(complete.to_numpy(), higher)
    out.ranks = pd.DataFrame({"competitor": complete.columns, "average_rank": r}).sort_values("average_rank")
    out.friedman = rank_tests.friedman(complete.to_numpy(), higher)
    out.cd = rank_tests.critical_difference(complete.shape[1], complete.shape[0], out.config.alpha)
