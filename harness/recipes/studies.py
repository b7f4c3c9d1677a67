"""Executors that train supernets: search sweeps (table or retrained ground truth), Bender's dropout study, NSA.

Searches go through the sweep machinery (``run_sweep``): one run folder per
run id under ``<out>/runs``, so a second ``harness reproduce`` resumes or
skips what is done. Protocol values come from the presets (``protocol=None``
resolves the space's family); a part's ``params['run']`` may fix other
``RunConfig`` fields (used by tests and reduced scales, printed in the report).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.recipes.compare import Ours
from harness.recipes.executors import missing_column
from harness.recipes.recipe import Context, Part, PartResult, Row
from harness.run.config import RunConfig
from search_spaces import get_space
from search_spaces.errors import BenchmarkError


def _configs(part: Part, ctx: Context) -> list[tuple[str, RunConfig]]:
    """(row name, run) for every search of the part; a setting's ``grid`` gives one run per combination."""
    p = part.params
    out = []
    for space in p["spaces"]:
        for dataset in p.get("search_datasets", ("cifar10",)):
            for name, setting in p["optimizers"].items():
                grid = setting.get("grid", {})
                for combo in itertools.product(*(grid[k] for k in sorted(grid))):
                    for seed in ctx.seeds:
                        out.append((name, RunConfig.from_dict({
                            "space": space, "dataset": dataset, "data_dir": ctx.data_dir,
                            "benchmark": p.get("benchmark", "none"),
                            "benchmark_file": ctx.benchmark_file if p.get("benchmark", "none") != "none" else None,
                            "optimizer": setting["optimizer"],
                            "optimizer_config": {**setting.get("config", {}), **dict(zip(sorted(grid), combo))},
                            "seed": seed, "device": ctx.device, **p.get("run", {})})))
    return out


def _selected(part: Part, runs: dict[tuple[str, str, str], list[Path]], res: PartResult) -> set[Path]:
    """The runs that count: all, or for a setting with ``select`` the R-DARTS winner of its grid."""
    from harness.optimizers.rdarts import select

    keep: set[Path] = set()
    for (name, space, dataset), dirs in runs.items():
        kind = part.params["optimizers"][name].get("select")
        if kind is None:
            keep.update(dirs)
            continue
        sel = select(dirs, kind)
        keep.update(Path(c["name"]) for c in sel.runs)
        res.findings.append(f"{name} on {space}/{dataset}: R-DARTS selection picked {kind} value {sel.value:g} "
                            f"(mean final search valid acc {sel.score:.2f}).")
    return keep


def search(part: Part, ctx: Context) -> PartResult:
    """Run every search of the part, then score each found architecture.

    ``params``: ``spaces``, ``search_datasets``, ``optimizers`` (row name ->
    ``{"optimizer", "config", "grid", "select"}``; ``select`` = ``dp``/``l2``
    keeps the R-DARTS winner of the grid), ``eval`` = ``benchmark`` (query the
    table at ``epochs``, seed mean, for every row's dataset and split) or
    ``retrain`` (``harness evaluate`` with ``params['retrain']`` as
    ``EvalProtocol`` values on the search dataset; the metric is test error).
    A row's ``benchmark`` is the search space's name.
    """
    from harness.run.sweep import SweepConfig, run_sweep

    p = part.params
    named = _configs(part, ctx)
    sweep_out = Path(ctx.out) / "runs"
    ctx.say(f"{part.name}: {len(named)} searches under {sweep_out}")
    run_sweep([c for _, c in named], SweepConfig(out=str(sweep_out), jobs=ctx.jobs),
              on_result=lambda r: ctx.say(f"  {r['run_id']}: {r['status']}"))
    res = PartResult()
    finished: dict[tuple[str, str, str], list[Path]] = defaultdict(list)
    diverged, failed = [], []
    for name, c in named:
        d = sweep_out / c.run_id()
        # final.json says how a run ended, whether it ran now or was finished before (the sweep says "skipped")
        state = json.loads((d / "final.json").read_text()).get("status") if (d / "final.json").is_file() else None
        if state == "finished":
            finished[(name, c.space, c.dataset)].append(d)
        else:
            (diverged if state == "diverged" else failed).append(c.run_id())
    keep = _selected(part, finished, res)
    scores: dict[Row, list[float]] = defaultdict(list)
    bench = None
    if p["eval"] == "benchmark":
        from benchmarks import load_benchmark

        bench = load_benchmark(p["benchmark"], ctx.benchmark_file)
    values: dict[Row, list[float]] = defaultdict(list)
    reasons: dict[Row, str] = {}
    for (name, space, dataset), dirs in finished.items():
        for d in (x for x in dirs if x in keep):
            arch = json.loads((d / "final.json").read_text())["arch"]
            for row in (r for r in part.rows if r.method == name and r.benchmark == space):
                if p["eval"] == "benchmark":
                    if p.get("own_dataset") and row.dataset != dataset:
                        continue  # one search per dataset (DrNAS's README): a cell answers its own dataset only
                    try:
                        a = get_space(space).from_str(arch)
                        values[row].append(bench.query(a, row.dataset, row.split, row.metric, p["epochs"], "mean"))
                    except BenchmarkError:
                        reasons[row] = missing_column(p["benchmark"], row, p["epochs"])
                elif row.dataset == dataset:
                    values[row].append(_retrain(part, ctx, d, arch, space, dataset, row.setting, name))
                    scores[row].append(_search_valid_acc(d))
    for row in part.rows:
        if row in reasons:
            res.rows.append(Ours(row, not_run=reasons[row]))
        elif not values.get(row):
            res.rows.append(Ours(row, not_run="no finished search (diverged or failed runs: see the findings)"))
        else:
            res.rows.append(Ours(row, values[row], scale=ctx.scale, note=f"{len(values[row])} searches",
                                 scores=scores.get(row, [])))
    if diverged:  # as in the tables: counted, never averaged
        res.findings.append(f"{len(diverged)} searches diverged and are left out of the means: {', '.join(diverged)}")
    if failed:
        res.findings.append(f"{len(failed)} searches did not finish: {', '.join(failed)} (their failed.json says why)")
    if ctx.scale == "reduced":
        res.findings += _ranking(res.rows)
    if finished and p["eval"] == "benchmark":
        from harness.reporting.aggregate import load_runs
        from harness.reporting.plots import plot_regret

        png = f"anytime_regret_{part.name.replace(' ', '_').replace('/', '-')}.png"
        plot_regret(load_runs([d for dirs in finished.values() for d in dirs]), Path(ctx.out) / png)
        res.files.append(png)
    return res


def _retrain(part: Part, ctx: Context, run: Path, arch: str, space: str, dataset: str, setting: str,
             name: str) -> float:
    """Retrain ``arch`` under the row's setting (its own folder under the run, so settings never clash);
    the test error on the whole official test set."""
    from harness.recipes.catalogue import retrain_sizes
    from harness.run.evaluate import EvalProtocol, evaluate

    grid = "dp" if part.params["optimizers"][name].get("select") == "dp" else "wd"
    sizes = retrain_sizes(setting, space, dataset, grid)
    proto = EvalProtocol(**{**part.params.get("retrain", {}), **sizes, "dataset": dataset, "data_dir": ctx.data_dir,
                            "device": ctx.device})
    slug = f"{sizes['layers']}x{sizes['channels']}"
    final = evaluate(arch, proto, space=space, out=run / f"retrain-{slug}", progress=ctx.progress)
    return float(final["retrained_test_error"])


def _search_valid_acc(run: Path) -> float:
    """The search's final one-shot validation accuracy (``trajectory.csv``'s last ``valid_acc``): the score
    by which a ``selected`` row picks its run (ours: RobustDARTS's slides do not state the rule)."""
    import csv

    with open(run / "trajectory.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    try:
        return float(last.get("valid_acc") or "nan")
    except ValueError:
        return float("nan")


def _ranking(rows: list[Ours]) -> list[str]:
    """Per (dataset, split), the methods that ran ordered by mean value, best first (what a reduced run reports)."""
    by: dict[tuple[str, str, str], list[Ours]] = defaultdict(list)
    for o in rows:
        if o.values:
            by[(o.row.dataset, o.row.split, o.row.metric)].append(o)
    sign = {"error": 1.0}
    return [f"Reduced ranking, {ds} {sp} {metric}: " + " > ".join(
        f"{o.row.method} {o.mean:.2f}" for o in sorted(group, key=lambda o: sign.get(metric, -1.0) * o.mean))
        for (ds, sp, metric), group in sorted(by.items())]


def _base(part: Part, ctx: Context, optimizer: str) -> RunConfig:
    p = part.params
    return RunConfig.from_dict({"space": p["space"], "dataset": p["dataset"], "data_dir": ctx.data_dir,
                                "benchmark": p["benchmark"], "benchmark_file": ctx.benchmark_file,
                                "optimizer": optimizer, "seed": ctx.seeds[0], "device": ctx.device,
                                **p.get("run", {})})


def bender_dropout(part: Part, ctx: Context) -> PartResult:
    """Bender et al.'s path-dropout study: train ``oneshot`` per ``r_max`` and seed, correlate one-shot with
    stand-alone (table) accuracy; findings = Kendall tau per rate and which rate ranks best."""
    from harness.analysis.correlate import CorrelateConfig, dropout_study

    p = part.params
    out = Path(ctx.out) / "dropout_study"
    cfg = CorrelateConfig(archs=p.get("archs", "all"), device=ctx.device)
    rows = dropout_study(_base(part, ctx, "oneshot"), p["r_max"], cfg, out, seeds=ctx.seeds, progress=ctx.progress)
    key = "oneshot_vs_gt_test.kendall_tau"
    by_r: dict[float, list[float]] = defaultdict(list)
    for r in rows:
        by_r[r["r_max"]].append(r[key])
    table = ["| r_max | seeds | Kendall tau (one-shot vs stand-alone test) | std |", "|---:|---:|---:|---:|"]
    table += [f"| {r:g} | {len(v)} | {np.mean(v):.3f} | {np.std(v, ddof=1) if len(v) > 1 else 0:.3f} |"
              for r, v in sorted(by_r.items())]
    best = max(by_r, key=lambda r: np.mean(by_r[r]))
    finding = (f"Rank agreement is highest at r_max = {best:g} (Kendall tau {np.mean(by_r[best]):.3f}); "
               f"without dropout (r_max = 0) it is {np.mean(by_r.get(0.0, [float('nan')])):.3f}.")
    return PartResult(findings=[finding], tables=["\n".join(table)],
                      files=["dropout_study/dropout_study.csv", "dropout_study/dropout_study.png"])


def nsa_disparity(part: Part, ctx: Context) -> PartResult:
    """NSA's generalisation study per mode (naive / NSA-i / NSA-id) at one pool size: seen/unseen test accuracy,
    disparity, ensemble gain and ECE (``harness nsa --study``)."""
    from harness.analysis.nsa import NSAAnalysisConfig, pool_size_study

    p = part.params
    cfg = NSAAnalysisConfig(**p.get("analysis", {}))
    table = ["| mode | seeds | test acc seen | unseen | gap | disparity (seen) | ensemble gain | ECE single | "
             "ECE ensemble |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    gaps: dict[str, float] = {}
    accs: dict[str, tuple[float, float]] = {}
    for mode in p["modes"]:
        rs: list[dict[str, Any]] = []
        for seed in ctx.seeds:
            base = replace(_base(part, ctx, "nsa"), seed=seed,
                           optimizer_config={"pool": p.get("pool", "space")})
            rs += pool_size_study(base, [p["pool_size"]], mode, cfg, Path(ctx.out) / f"nsa-{mode}-seed{seed}",
                                  progress=ctx.progress)

        def m(k: str) -> float:
            return float(np.mean([r[k] for r in rs]))

        gaps[mode] = m("test_acc_seen") - m("test_acc_unseen")
        accs[mode] = (m("test_acc_seen"), m("test_acc_unseen"))
        table.append(f"| {mode} | {len(rs)} | {m('test_acc_seen'):.2f} | {m('test_acc_unseen'):.2f} | "
                     f"{gaps[mode]:+.2f} | {m('disparity_seen'):.2f} | {m('ensemble_gain'):+.2f} | "
                     f"{m('ece_seen'):.3f} | {m('ensemble_ece'):.3f} |")
    order = sorted(gaps, key=gaps.get)
    finding = ("Seen-minus-unseen test accuracy gap, smallest first: "
               + ", ".join(f"{k} {gaps[k]:+.2f}" for k in order) + ".")
    first = p["modes"][0]
    lines = [finding] + [f"{mode} vs {first}: test accuracy {accs[mode][0] - accs[first][0]:+.2f} points on seen "
                         f"and {accs[mode][1] - accs[first][1]:+.2f} on unseen architectures."
                         for mode in p["modes"][1:]]
    return PartResult(findings=lines, tables=["\n".join(table)])
