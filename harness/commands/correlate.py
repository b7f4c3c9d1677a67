"""``harness correlate`` and ``harness nsa``: what a trained supernet's shared weights know.

- ``harness correlate RUN_OR_CHECKPOINT --archs N|all|FILE``: rank agreement of
  one-shot accuracy with the benchmark (``harness.analysis.correlate``).
- ``harness correlate --dropout-study --r-max 0,0.1,0.2 ...``: trains the
  ``oneshot`` optimizer once per r_max and correlates each supernet.
- ``harness nsa RUN_OR_CHECKPOINT``: generalisation measurements of a pool-trained
  supernet (``harness.analysis.nsa``); ``harness nsa --study --pool-sizes 5,20,100`` trains
  one per pool size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click

from harness.commands.base import SEED, _progress_printer, cli, json_text
from search_spaces.errors import ConfigError, UserError

_SPLITS = ("search_train", "search_valid", "train", "valid", "test")


def _floats(text: str, what: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} expects comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise ConfigError(f"{what} expects finite numbers, got {text!r}")
    return vals


def _study_options(f: Callable) -> Callable:
    """Options of the training runs a study makes (the ``harness run`` names)."""
    opts = [
        click.option("--space", default="s5", show_default=True, help="Search space of the study's runs."),
        click.option("--dataset", default="digits", show_default=True),
        click.option("--epochs", default=20, show_default=True, type=int),
        click.option("--batch-size", default=64, show_default=True, type=int, help="Training batch size."),
        click.option("--channels", default=None, type=int),
        click.option("--depth", default=None, type=int),
        click.option("--subset", default=None, type=int, help="Use only this many images per split."),
        click.option("--seeds", multiple=True, type=SEED, help="Training seeds: --seeds 0 1 2. [default: 0]"),
        click.option("--set", "overrides", multiple=True, help="Optimizer config override KEY=VALUE (JSON value)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _gt_options(f: Callable) -> Callable:
    opts = [
        click.option("--benchmark", default=None, help="Ground-truth benchmark (default: the run's)."),
        click.option("--benchmark-file", default=None),
        click.option("--benchmark-dataset", default=None),
        click.option("--benchmark-epochs", default=None, type=int),
        click.option("--data-dir", default=None, help="Dataset folder (default: the run's)."),
        click.option("--device", default="auto", show_default=True, help="auto (cuda if available, else cpu), cpu, cuda, cuda:N."),
        click.option("-o", "--out", default=None, type=click.Path(file_okay=False), help="Output folder."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _base_run(kw: dict, optimizer: str, data_dir: str | None, device: str):
    from harness.commands.run import _parse_set
    from harness.run.config import RunConfig

    return RunConfig(space=kw["space"], dataset=kw["dataset"], data_dir=data_dir,
                     benchmark=kw["benchmark"] or ("s5-digits" if kw["space"] == "s5" else "none"),
                     benchmark_file=kw["benchmark_file"], benchmark_dataset=kw["benchmark_dataset"],
                     benchmark_epochs=kw["benchmark_epochs"], optimizer=optimizer,
                     optimizer_config=_parse_set(kw["overrides"]), seed=(kw["seeds"] or (0,))[0],
                     epochs=kw["epochs"], batch_size=kw["batch_size"], channels=kw["channels"], depth=kw["depth"],
                     subset=kw["subset"], device=device)


def _load(source: str | None, device: str, data_dir: str | None):
    from harness.analysis.correlate import load_trained
    from harness.run.build import resolve_device

    if source is None:
        raise UserError("give a run directory or checkpoint (or the study flag)")
    trained = load_trained(source, resolve_device(device))
    if data_dir:
        trained.run = replace(trained.run, data_dir=data_dir)
    return trained


def _default_out(source: str, name: str) -> Path:
    p = Path(source)
    return (p if p.is_dir() else p.parent) / name


@cli.command("correlate")
@click.argument("source", required=False)
@click.option("--archs", default="100", show_default=True, help="N sampled architectures, 'all', or a file of strings.")
@click.option("--arch-seed", default=0, show_default=True, type=SEED)
@click.option("--bn-batches", default=4, show_default=True, type=int, help="Training batches for per-arch BN stats.")
@click.option("--eval-batch-size", default=128, show_default=True, type=int)
@click.option("--eval-split", default="search_valid", show_default=True, type=click.Choice(_SPLITS))
@click.option("--eval-examples", default=1024, show_default=True, type=int, help="0: the whole split.")
@click.option("--kl-examples", default=256, show_default=True, type=int, help="Training examples of the KL analysis.")
@click.option("--dropout-study", is_flag=True, help="Train 'oneshot' per --r-max value and correlate each.")
@click.option("--r-max", default="0,0.1,0.2,0.3", show_default=True, help="Dropout-study plan, comma-separated.")
@_study_options
@_gt_options
def correlate_cmd(source, archs, arch_seed, bn_batches, eval_batch_size, eval_split, eval_examples, kl_examples,
                  dropout_study, r_max, **kw) -> None:
    """Rank agreement of one-shot accuracy (shared weights) with the benchmark, for a trained supernet."""
    from harness.analysis.correlate import CorrelateConfig, correlate
    from harness.analysis.correlate import dropout_study as study
    from harness.analysis.correlate import ground_truth_for

    cfg = CorrelateConfig(archs=archs, arch_seed=arch_seed, bn_batches=bn_batches, batch_size=eval_batch_size,
                          eval_split=eval_split, eval_examples=eval_examples or None, kl_examples=kl_examples,
                          device=kw["device"])
    if dropout_study:
        base = _base_run(kw, "oneshot", kw["data_dir"], kw["device"])
        out = Path(kw["out"] or "results/dropout_study")
        rows = study(base, _floats(r_max, "--r-max"), cfg, out, seeds=kw["seeds"] or None,
                     progress=_progress_printer())
        for r in rows:
            click.echo(f"r_max {r['r_max']:<5g} seed {r['seed']}: vs ground-truth test: Kendall tau "
                       f"{r['oneshot_vs_gt_test.kendall_tau']:+.3f}, "
                       f"Spearman rho {r['oneshot_vs_gt_test.spearman_rho']:+.3f}")
        click.echo(f"dropout study: {out}/dropout_study.csv, {out}/dropout_study.png")
        return
    trained = _load(source, kw["device"], kw["data_dir"])
    gt = ground_truth_for(trained.run, trained.space, benchmark=kw["benchmark"], benchmark_file=kw["benchmark_file"],
                          benchmark_dataset=kw["benchmark_dataset"], benchmark_epochs=kw["benchmark_epochs"])
    out = Path(kw["out"]) if kw["out"] else _default_out(source, "correlation")
    res = correlate(trained, cfg, gt, out_dir=out, progress=_progress_printer())
    for name, st in res["summary"]["stats"].items():
        click.echo(f"{name:22s} " + "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                              for k, v in st.items()))
    click.echo(f"files: {out}/archs.csv, {out}/summary.json, {out}/scatter.png")


@cli.command("nsa")
@click.argument("source", required=False)
@click.option("--n-seen", default=100, show_default=True, type=int, help="Pool members evaluated (official 100).")
@click.option("--n-unseen", default=100, show_default=True, type=int,
              help="Architectures outside the pool evaluated (official 100).")
@click.option("--unseen-seed", default=0, show_default=True, type=SEED)
@click.option("--test-examples", default=0, show_default=True, type=int,
              help="0: the whole test split (official: 10,000 CIFAR images).")
@click.option("--train-examples", default=1000, show_default=True, type=int)
@click.option("--bn", "bn_mode", default="running", show_default=True, type=click.Choice(["running", "recalibrate"]),
              help="running: official eval mode; recalibrate: per-architecture BN statistics.")
@click.option("--bn-batches", default=4, show_default=True, type=int, help="Training batches of --bn recalibrate.")
@click.option("--bn-compare/--no-bn-compare", default=True, show_default=True,
              help="Also report the seen/unseen gap under the other BN mode.")
@click.option("--eval-batch-size", default=128, show_default=True, type=int)
@click.option("--ensemble-seed", default=0, show_default=True, type=SEED)
@click.option("--study", is_flag=True, help="Train optimizer 'nsa' once per --pool-sizes value and analyse each.")
@click.option("--pool-sizes", default="5,20,100", show_default=True, help="Study plan: pool sizes S.")
@click.option("--mode", default="nsa-i", show_default=True,
              type=click.Choice(["naive", "nsa-i", "nsa-id", "nsa-id-aggr", "nsa-id-gains"]))
@click.option("--pool", "pool_kind", default=None, type=click.Choice(["er", "space"]),
              help="Study pool: er (official random-wired graphs, space randwire) or space (uniform sample); "
                   "default: the preset's.")
@_study_options
@_gt_options
def nsa_cmd(source, n_seen, n_unseen, unseen_seed, test_examples, train_examples, bn_mode, bn_batches, bn_compare,
            eval_batch_size, ensemble_seed, study, pool_sizes, mode, pool_kind, **kw) -> None:
    """Generalisation of a pool-trained supernet: disparity, seen vs unseen, ensembles, calibration."""
    from harness.analysis.correlate import ground_truth_for
    from harness.analysis.nsa import NSAAnalysisConfig, analyze_pool, pool_size_study

    cfg = NSAAnalysisConfig(n_seen=n_seen, n_unseen=n_unseen, unseen_seed=unseen_seed,
                            test_examples=test_examples or None, train_examples=train_examples, bn=bn_mode,
                            bn_batches=bn_batches, bn_compare=bn_compare, batch_size=eval_batch_size,
                            ensemble_seed=ensemble_seed)
    if study:
        base = _base_run(kw, "nsa", kw["data_dir"], kw["device"])
        if pool_kind:
            base = replace(base, optimizer_config={**base.optimizer_config, "pool": pool_kind})
        out = Path(kw["out"] or "results/nsa_study")
        sizes = [int(v) for v in _floats(pool_sizes, "--pool-sizes")]
        for r in pool_size_study(base, sizes, mode, cfg, out, progress=_progress_printer()):
            click.echo(f"S={r['pool_size']:<5d} test acc seen {r['test_acc_seen']:.2f} "
                       f"unseen {r['test_acc_unseen']:.2f}"
                       f"  disparity {r['disparity_seen']:.2f}  ensemble gain {r['ensemble_gain']:+.2f}"
                       f"  ECE single {r['ece_seen']:.3f} ensemble {r['ensemble_ece']:.3f}")
        click.echo(f"NSA study: {out}/nsa_study.csv, {out}/nsa_hist.png, {out}/nsa_ensemble.png")
        return
    trained = _load(source, kw["device"], kw["data_dir"])
    gt = None
    if kw["benchmark"] or trained.run.benchmark != "none":
        gt = ground_truth_for(trained.run, trained.space, benchmark=kw["benchmark"],
                              benchmark_file=kw["benchmark_file"], benchmark_dataset=kw["benchmark_dataset"],
                              benchmark_epochs=kw["benchmark_epochs"])
    out = Path(kw["out"]) if kw["out"] else _default_out(source, "nsa")
    res = analyze_pool(trained, cfg, gt=gt, out_dir=out)
    click.echo(json_text({k: v for k, v in res["summary"].items() if k != "config"}))
    click.echo(f"files: {out}/archs.csv, {out}/ensemble.csv, {out}/summary.json, {out}/hist.png, {out}/ensemble.png")
