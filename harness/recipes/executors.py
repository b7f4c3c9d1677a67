"""Executors that need no supernet training: benchmark statistics, zero-cost NAS, published search logs.

Each takes ``(part, ctx)`` and returns a ``PartResult``; ``EXECUTORS`` maps the
names a ``Part`` uses to them (the training executors live in ``studies``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks import load_benchmark
from harness.recipes.compare import Ours
from harness.recipes.recipe import Context, Part, PartResult, Row
from harness.run.items import resumable_item
from search_spaces import get_space
from search_spaces.errors import BenchmarkError, UserError

PROXY_LABELS = {"synflow": "SynFlow", "snip": "SNIP", "grasp": "GraSP"}


def zero_cost_method(proxy: str, n: int) -> str:
    """The published row name of zero-cost NAS (Abdelfattah et al. 2021) with ``proxy`` over ``n`` samples."""
    return f"Zero-cost NAS ({PROXY_LABELS[proxy]}, N={n})"


def missing_column(benchmark: str, row: Row, epochs: int) -> str:
    """``not run`` reason of a row whose column the given benchmark file lacks (never another split)."""
    return (f"needs the official {'NB-201' if benchmark == 'nb201' else benchmark} file "
            f"({row.dataset}/{row.split}/{row.metric}@{epochs} is not in --benchmark-file)")


def benchmark_stats(part: Part, ctx: Context) -> PartResult:
    """Rows ``optimal`` (the benchmark's best) and ``Random baseline`` (every architecture's accuracy, once).

    ``Random baseline`` is the accuracy distribution of a uniformly drawn
    architecture: mean and sample std over the whole space of the seed-mean
    accuracies at ``params['epochs']``.
    """
    p = part.params
    bench = load_benchmark(p["benchmark"], ctx.benchmark_file)
    res = PartResult()
    everything = None
    for row in part.rows:
        try:
            if row.method == "optimal":
                opt = bench.optimum(row.dataset, row.split, row.metric, p["epochs"], "mean")
                res.rows.append(Ours(row, [float(opt.value)], note=f"the benchmark's optimum @{p['epochs']} epochs"))
            elif row.method == "Random baseline":
                if everything is None:
                    everything = [bench.space.from_index(i) for i in range(bench.space.size)]
                v = np.asarray(bench.query_many(everything, row.dataset, row.split, row.metric, p["epochs"], "mean"))
                res.rows.append(Ours(row, [float(x) for x in v[np.isfinite(v)]],
                                     note=f"every architecture once, seed-mean accuracy @{p['epochs']} epochs"))
            else:
                raise UserError(f"benchmark_stats: unknown row {row.method!r}")
        except BenchmarkError:
            res.rows.append(Ours(row, not_run=missing_column(p["benchmark"], row, p["epochs"])))
    return res


def _train_batch(splits, size: int, seed: int):
    """``size`` images of ``splits.train`` (normalised) and their labels, drawn with numpy seed ``[seed, 1]``."""
    import torch

    from harness.data import normalize

    x, y = splits.train
    idx = np.sort(np.random.default_rng([seed, 1]).choice(len(y), size=size, replace=False))
    xb = normalize(x[torch.as_tensor(idx)], splits.mean, splits.std)
    return xb, y[torch.as_tensor(idx)]


def zero_cost(part: Part, ctx: Context) -> PartResult:
    """Zero-cost NAS: ``n`` uniform draws (numpy seed = run seed), the best by the proxy, its test accuracy.

    One draw of ``max(sizes)`` architectures per (dataset, seed); the pick at
    ``n`` is the best of the first ``n`` (the same draw ``proxy_search`` makes
    with ``n``). Networks are the space's full size unless ``params`` say
    otherwise, initialised from the run seed.
    """
    from harness.data import DATASETS, load_dataset
    from harness.metrics import proxies

    p = part.params
    bench = load_benchmark(p["benchmark"], ctx.benchmark_file)
    space = get_space(p["space"])
    sizes, proxy = tuple(p["sizes"]), p["proxy"]
    picks: dict[tuple[str, int], list] = defaultdict(list)
    for ds in p["datasets"]:
        info = DATASETS[ds]
        cfg = space.default_config().with_overrides(num_classes=info.num_classes, in_channels=info.in_channels,
                                                    input_size=info.input_size, channels=p.get("channels"),
                                                    depth=p.get("depth"))
        splits = load_dataset(ds, ctx.data_dir, "cpu") if proxy in proxies.DATA_PROXIES else None
        for seed in ctx.seeds:
            def one(seed=seed, splits=splits, cfg=cfg) -> dict[str, str]:
                rng = np.random.default_rng(seed)
                archs = [space.sample(rng) for _ in range(max(sizes))]
                batch = None if splits is None else _train_batch(splits, p["batch_size"], seed)
                scores = proxies.score_architectures(space, archs, proxy, batch, cfg, seed=seed, device=ctx.device)
                return {str(n): space.to_str(proxies.pick_best(archs[:n], scores[:n])) for n in sizes}

            # each (dataset, seed) is saved when scored: a killed recipe resumes at the item it was on
            key = {"part": part.name, "space": space.name, "proxy": proxy, "dataset": ds, "seed": seed,
                   "sizes": list(sizes), "config": repr(cfg), "batch_size": p.get("batch_size"), "device": ctx.device}
            got, reused = resumable_item(Path(ctx.out) / "zero_cost" / f"{part.name}-{ds}-seed{seed}", key, one)
            for n in sizes:
                picks[(ds, n)].append(space.from_str(got[str(n)]))
            ctx.say(f"zero-cost NAS {PROXY_LABELS[proxy]} {ds} seed {seed}: " + ", ".join(
                f"N={n} {bench.query(picks[(ds, n)][-1], ds, 'test', 'accuracy', p['epochs'], 'mean'):.2f}"
                for n in sizes) + (" (kept from an earlier run)" if reused else ""))
    size_of = dict(p.get("names") or {zero_cost_method(proxy, n): n for n in sizes})
    res = PartResult()
    for row in part.rows:
        try:
            vals = [bench.query(a, row.dataset, row.split, row.metric, p["epochs"], "mean")
                    for a in picks[(row.dataset, size_of[row.method])]]
        except BenchmarkError:
            res.rows.append(Ours(row, not_run=missing_column(p["benchmark"], row, p["epochs"])))
            continue
        res.rows.append(Ours(row, vals, note=f"{space.name} C={cfg.channels} N={cfg.depth}, {row.split} accuracy "
                                             f"@{p['epochs']} (mean)"))
    return res


def robustdarts_eigenvalue(part: Part, ctx: Context) -> PartResult:
    """Dominant Hessian eigenvalue over the published search (first and last logged epoch) per setting,
    and its rank correlation with the final error, from the RobustDARTS logs at ``ctx.logs``."""
    from harness.analysis.correlate import pyplot
    from harness.metrics.rank import kendall_tau, spearman_rho
    from harness.run.import_robustdarts import dominant_eigenvalues, find_settings, read_errors

    p = part.params
    settings = [s for s in find_settings(ctx.logs) if s.space == p["space"] and s.dataset == p["dataset"]]
    series, lines = {}, []
    for s in settings:
        for d in sorted(s.path.glob("derivatives_*.json")):
            seed = int(d.stem.split("_")[1])
            eig = dominant_eigenvalues(d)
            errs = s.path / f"errors_{seed}.json"
            if not eig or not errs.is_file():
                continue
            final_err = read_errors(errs)["valid_acc"][-1]  # RobustDARTS's "acc" keys hold error in %
            epochs = sorted(eig)
            series[(s.drop_path_prob, s.weight_decay, seed)] = (epochs, [eig[e] for e in epochs], final_err,
                                                                 _free_ops(s.path / f"arch_{seed}"))
    if not series:
        raise UserError(f"{ctx.logs}: no {p['space']}/{p['dataset']} setting with derivatives_*.json and errors_*.json")
    by_setting: dict[tuple[float, float], list] = defaultdict(list)
    for (dp, wd, _), v in series.items():
        by_setting[(dp, wd)].append(v)
    table = ["| drop-path | weight decay | seeds | eigenvalue, first logged epoch | eigenvalue, last | ratio "
             "| final supernet valid error (%) | parameter-free ops in the normal cell (of 8) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rises = 0
    for (dp, wd), vs in sorted(by_setting.items()):
        first, last = np.mean([v[1][0] for v in vs]), np.mean([v[1][-1] for v in vs])
        rises += last > first
        table.append(f"| {dp:g} | {wd:g} | {len(vs)} | {first:.3f} | {last:.3f} | {last / first:.2f} "
                     f"| {np.mean([v[2] for v in vs]):.2f} | {np.nanmean([v[3] for v in vs]):.1f} |")
    finals = [v[1][-1] for v in series.values()]
    errs = [v[2] for v in series.values()]
    rho, tau = spearman_rho(finals, errs), kendall_tau(finals, errs)
    lines.append(f"The dominant eigenvalue rises from the first to the last logged epoch in {rises} of "
                 f"{len(by_setting)} settings ({p['space'].upper()}, {p['dataset']}, mean over seeds).")
    lines.append(f"Across {len(series)} (setting, seed) searches, the final eigenvalue and the final supernet "
                 f"validation error have Spearman rho {rho:.2f}, Kendall tau {tau:.2f}.")
    free = [v[3] for v in series.values()]
    if all(np.isfinite(free)):
        lines.append(f"The final eigenvalue and the number of parameter-free operations (skip, pooling) the search "
                     f"put in the normal cell: Spearman rho {spearman_rho(finals, free):.2f}, Kendall tau "
                     f"{kendall_tau(finals, free):.2f} (the paper's failure mode: high curvature, parameter-free "
                     f"cells, poor retrained error).")
    lines.append("The logs hold the supernet's validation error, not the retrained test error of the paper's "
                 "figures: the supernet error rises with strong L2 while the eigenvalue falls, so its correlation "
                 "with the eigenvalue is not the paper's relation.")
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for (dp, wd), vs in sorted(by_setting.items()):
        if dp == min(k[0] for k in by_setting):
            ep = vs[0][0]
            a.plot(ep, np.mean([v[1] for v in vs if v[0] == ep], axis=0), marker="o", ms=3, label=f"wd {wd:g}")
    a.set(xlabel="search epoch", ylabel="dominant eigenvalue", title=f"drop-path {min(k[0] for k in by_setting):g}")
    a.legend(fontsize=7, title="L2")
    b.scatter(finals, errs, s=12)
    b.set(xlabel="final dominant eigenvalue", ylabel="final supernet valid error (%)",
          title=f"Spearman {rho:.2f}, Kendall {tau:.2f} (rank statistics)")
    fig.tight_layout()
    png = Path(ctx.out) / "eigenvalue.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return PartResult(findings=lines, tables=["\n".join(table)], files=[png.name])


def unavailable(part: Part, ctx: Context) -> PartResult:
    """Rows this harness cannot compute, each ``not run`` with ``params['reasons'][metric]`` or ``['reason']``."""
    reasons = part.params.get("reasons", {})
    return PartResult(rows=[Ours(r, not_run=reasons.get(r.metric, part.params["reason"])) for r in part.rows])


def _free_ops(path: Path) -> float:
    """Parameter-free operations (skip_connect, pooling, none) in the normal cell of a genotype file; NaN if absent."""
    from search_spaces.darts.genotype import parse_genotypes

    if not path.is_file():
        return float("nan")
    g = parse_genotypes(path.read_text())[-1]
    return float(sum(op in ("skip_connect", "max_pool_3x3", "avg_pool_3x3", "none") for op, _ in g.normal))


EXECUTORS: dict[str, Callable[[Part, Context], PartResult]] = {
    "unavailable": unavailable,
    "benchmark_stats": benchmark_stats,
    "zero_cost": zero_cost,
    "robustdarts_eigenvalue": robustdarts_eigenvalue,
}


def rows_for(proxy: str, sizes: tuple[int, ...], datasets: tuple[str, ...]) -> tuple[Row, ...]:
    """The zero-cost NAS rows of ``proxy`` at ``sizes`` on ``datasets`` (test accuracy)."""
    return tuple(Row(zero_cost_method(proxy, n), ds, "test", benchmark="nb201") for ds in datasets for n in sizes)
