"""``harness list`` and ``harness query``."""

from __future__ import annotations

import click

from harness.commands.base import cli, json_text


@cli.command("list")
def list_cmd() -> None:
    """Spaces (with their size), benchmarks, optimizers and datasets."""
    from benchmarks import list_benchmarks
    from harness.data import DATASETS
    from harness.optimizers import get_optimizer_class, list_optimizers
    from search_spaces import get_space, list_spaces

    click.echo("spaces:")
    for name in list_spaces():
        s = get_space(name)
        size = f"{s.size:,} architectures" if s.size else "not enumerable"
        click.echo(f"  {name:16s} {size}")
    click.echo("benchmarks:")
    for name, space, desc in list_benchmarks():
        click.echo(f"  {name:16s} space {space:14s} {desc}")
    click.echo("optimizers:")
    for name in list_optimizers():
        click.echo(f"  {name:16s} {get_optimizer_class(name).description}")
    click.echo("datasets:")
    for name, info in sorted(DATASETS.items()):
        click.echo(f"  {name:16s} {info.num_classes} classes, {info.in_channels}x{info.input_size}x{info.input_size}")


@cli.command("query")
@click.option("--benchmark", required=True, help="Registered benchmark name (see `harness list`).")
@click.option("--file", "file", default=None, help="Official benchmark file or folder (not needed for shipped tables).")
@click.option("--arch", required=True, help="Architecture in the space's official string form.")
@click.option("--dataset", required=True)
@click.option("--split", required=True, type=click.Choice(["train", "valid", "test"]))
@click.option("--metric", default="accuracy", show_default=True)
@click.option("--epochs", default=200, show_default=True, type=int, help="Training budget of the ground truth.")
@click.option("--seed", default="mean", show_default=True, help="'mean' over seeds, or one seed.")
def query_cmd(benchmark: str, file: str | None, arch: str, dataset: str, split: str, metric: str,
              epochs: int, seed: str) -> None:
    """Print one ground-truth value, the optimum and the regret as JSON."""
    from benchmarks import load_benchmark
    from benchmarks.base import HIGHER_IS_BETTER

    b = load_benchmark(benchmark, file)
    s: str | int = int(seed) if seed.isdigit() else seed
    a = b.space.from_str(arch)
    value = b.query(a, dataset, split, metric, epochs, s)
    objective = metric in HIGHER_IS_BETTER  # a cost (params, FLOPs, time) has no optimum
    opt = b.optimum(dataset, split, metric, epochs, s) if objective else None
    click.echo(json_text({
        "benchmark": benchmark, "arch": b.space.to_str(a), "index": _index(b.space, a),
        "dataset": dataset, "split": split, "metric": metric, "epochs": epochs, "seed": seed,
        "value": value, "optimum": opt.value if opt else None, "optimum_arch": opt.arch if opt else None,
        "regret": b.regret(a, dataset, split, metric, epochs, s) if objective else None}))


def _index(space, arch):
    try:
        return space.index(arch)
    except Exception:
        return None
