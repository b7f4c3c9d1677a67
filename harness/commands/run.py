"""``harness run``: search runs over optimizers x seeds, then a summary table and plot."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.commands.base import OUTPUT, SEED, _progress_bar, _progress_printer, cli, printable
from harness.run.config import RunConfig
from search_spaces.errors import ConfigError

DEFAULT_OPTIMIZERS = ("darts", "rsws")
DEFAULT_SEEDS = (0, 1, 2)
MAX_SET_CHARS = 10_000  # ours: an optimizer value is a number, a name or a short list


def _parse_set(items: tuple[str, ...]) -> dict:
    out = {}
    for it in items:
        key, sep, val = it.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {it!r}")
        if len(val) > MAX_SET_CHARS:
            raise ConfigError(f"--set {key}: a value of {len(val):,} characters (at most {MAX_SET_CHARS:,})")
        try:
            out[key] = json.loads(val)
        except json.JSONDecodeError:
            out[key] = val
        except RecursionError:
            raise ConfigError(f"--set {key}: the JSON value is nested too deeply") from None
    return out


@cli.command("run")
@click.option("--space", default="s5", show_default=True, help="Search space (see `harness list`).")
@click.option("--optimizer", "optimizers", multiple=True,
              help=f"Optimizer(s); several allowed: --optimizer darts gdas. [default: {' '.join(DEFAULT_OPTIMIZERS)}]")
@click.option("--dataset", default="digits", show_default=True)
@click.option("--data-dir", default=None, help="Folder with the official dataset files.")
@click.option("--benchmark", default="s5-digits", show_default=True, help="Ground-truth benchmark, or 'none'.")
@click.option("--benchmark-file", default=None, help="Official benchmark file/folder (not needed for shipped tables).")
@click.option("--benchmark-dataset", default=None, help="Dataset name in the benchmark (default: --dataset).")
@click.option("--benchmark-epochs", default=None, type=int, help="Ground-truth training budget (default: the table's largest).")
@click.option("--benchmark-seed", default="mean", show_default=True,
              help="Seed aggregation of the ground truth: 'mean' over the table's seeds, or one seed.")
@click.option("--regret", default=None, type=click.Choice(["table", "nb1shot1-reference"]),
              help="Test-regret convention (default: nb1shot1-reference for NB-1Shot1 benchmarks, else table; "
                   "see docs/protocols.md).")
@click.option("--seeds", multiple=True, type=SEED, help="Seeds; several allowed: --seeds 0 1 2. [default: 0 1 2]")
@click.option("--epochs", default=None, type=int, envvar="HARNESS_EPOCHS", show_envvar=True,
              help="Search epochs (default: the protocol preset's; see `harness protocol SPACE OPTIMIZER`).")
@click.option("--batch-size", default=None, type=int, help="Search batch size (default: the preset's).")
@click.option("--protocol", "preset", default=None,
              help="Protocol preset FAMILY/OPTIMIZER (default: the space's family; `harness protocol --list`).")
@click.option("--channels", default=None, type=int, help="Supernet width (default: the space's protocol).")
@click.option("--depth", default=None, type=int, help="Cells: per stage on NB-201, per stack on NB-1Shot1, in total on S1-S5 (at least 3 there); "
                   "default: the space's protocol (`harness list` says per space).")
@click.option("--track-running-stats", default=None, type=bool, help="Search-BN tracking (default: the space's protocol).")
@click.option("--subset", default=None, type=int, help="Use only this many images per split.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda if available, else cpu), cpu, cuda, cuda:N.")
@click.option("--eigen-every", default=0, show_default=True, type=int,
              help="Track the dominant Hessian eigenvalue every N epochs (0: off).")
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(["fp32", "bf16"]),
              help="Search-step precision (bf16: autocast; selection and ground truth stay fp32).")
@click.option("--channels-last", is_flag=True, help="Channels-last memory format for the supernet (activations follow).")
@click.option("--compile", "compile_mode", default="off", show_default=True,
              type=click.Choice(["off", "default", "reduce-overhead", "max-autotune"]),
              help="torch.compile the supernet (for GPUs; reduce-overhead adds CUDA graphs).")
@click.option("--batch-seeds", is_flag=True,
              help="Step the seeds of each optimizer together in one process (first-order DARTS; see docs/performance.md).")
@click.option("--set", "overrides", multiple=True,
              help="Override a protocol value KEY=VALUE (JSON value): an optimizer key or select_batch_size / "
                   "select_augment.")
@click.option("-o", "--out", default="results/runs", show_default=True, type=click.Path(file_okay=False))
@click.option("--resume", is_flag=True, help="Continue unfinished runs from their last checkpoint.")
@click.option("--no-summary", is_flag=True, help="Skip the summary table and plot.")
@click.option("--log/--linear", "log_axis", default=None,
              help="Regret plot axis: symlog or linear [default: symlog when the curves span more than 10x].")
def run_cmd(space, optimizers, dataset, data_dir, benchmark, benchmark_file, benchmark_dataset, benchmark_epochs,
            benchmark_seed, regret, seeds, epochs, batch_size, preset, channels, depth, track_running_stats, subset, device, eigen_every, precision,
            channels_last, compile_mode, batch_seeds, overrides, out, resume, no_summary, log_axis) -> None:
    """Run searches (default: DARTS and RS-ws on S5/digits, 3 seeds) and summarise them."""
    from harness.run.runner import SearchRun

    optimizers = optimizers or DEFAULT_OPTIMIZERS
    seeds = seeds or DEFAULT_SEEDS
    opt_cfg = _parse_set(overrides)
    run_set = {k: opt_cfg.pop(k) for k in ("select_batch_size", "select_augment") if k in opt_cfg}
    for k in ("epochs", "batch_size"):
        if k in opt_cfg:
            raise ConfigError(f"set {k} with --{k.replace('_', '-')}, not --set")
    runs = []
    # Build and validate every config before any work starts.
    for name in optimizers:
        for seed in seeds:
            cfg = RunConfig(space=space, dataset=dataset, benchmark=benchmark, benchmark_file=benchmark_file,
                            benchmark_dataset=benchmark_dataset, benchmark_epochs=benchmark_epochs,
                            benchmark_seed=benchmark_seed, regret=regret,
                            data_dir=data_dir, optimizer=name, optimizer_config=opt_cfg, seed=seed,
                            epochs=epochs, batch_size=batch_size, protocol=preset, **run_set,
                            channels=channels, depth=depth,
                            track_running_stats=track_running_stats, subset=subset, device=device,
                            eigen_every=eigen_every, precision=precision, channels_last=channels_last,
                            compile=compile_mode, batch_seeds=batch_seeds)
            runs.append(SearchRun(cfg, out, progress=_progress_printer(), bar=_progress_bar()))
            if OUTPUT["verbose"]:
                proto = cfg.resolved_protocol()
                click.echo(f"{cfg.run_id()}: preset {proto.preset}, {len(proto.overrides)} override(s) "
                           f"{sorted(proto.overrides) if proto.overrides else ''} "
                           f"(harness protocol {cfg.space} {name} prints every value and source)", err=True)
    groups = [[r for r in runs if r.config.optimizer == name] for name in optimizers] if batch_seeds \
        else [[r] for r in runs]
    if batch_seeds:
        from harness.run.batched_run import BatchedSearch, check_batchable

        for g in groups:
            check_batchable(g)
    for g in groups:
        was_finished = [r.finished for r in g]
        finals = BatchedSearch(g).run(resume=resume) if batch_seeds else [g[0].run(resume=resume)]
        for r, done, final in zip(g, was_finished, finals):
            tag = "already finished, kept" if done else final["status"]
            click.echo(printable(f"{r.dir}: {tag}; test acc {_fmt(final.get('gt_test_acc'))}, "
                                 f"regret {_fmt(final.get('test_regret'))}; found {final.get('arch') or 'n/a'}"))
    if not no_summary:
        _summary([r.dir for r in runs], Path(out), log_axis)


def _fmt(v) -> str:
    return "n/a" if v is None or v != v else f"{v:.2f}"


def _summary(run_dirs: list[Path], out: Path, log: bool | None = None) -> None:
    from harness.reporting.aggregate import load_runs, summary_table
    from harness.reporting.plots import plot_regret

    runs = load_runs(run_dirs)
    click.echo("")
    click.echo(summary_table(runs))
    png = plot_regret(runs, out / "regret_vs_epoch.png", log=log)
    click.echo(f"\nrun files: {out}/<run id>/ (config.json, trajectory.csv, final.json)")
    click.echo(f"regret plot: {png}")
