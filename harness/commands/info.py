"""``harness list`` and ``harness query``."""

from __future__ import annotations

import click

from harness.commands.base import cli, deprecated, given, json_text
from search_spaces.errors import UserError


@cli.command("list")
def list_cmd() -> None:
    """Spaces (with their size), benchmarks, optimizers and datasets."""
    from harness.commands.listing import current, render

    click.echo(render(current()))


#: The official NB-201 dataset / split names, resolved visibly to ours (docs/benchmarks.md's table).
OFFICIAL_NAMES = {"cifar10-valid": ("cifar10", None), "ImageNet16-120": ("ImageNet16-120", None),
                  "ori-test": (None, "test"), "x-valid": (None, "valid"), "x-test": (None, "test")}


@cli.command("query")
@click.option("--benchmark", required=True, help="Registered benchmark name (see `harness list`).")
@click.option("--benchmark-file", default=None,
              help="Official benchmark file or folder (not needed for shipped tables).")
@click.option("--file", "old_file", default=None, hidden=True)
@click.option("--arch", required=True,
              help="Architecture in the space's official string form, or its index in the space's enumeration.")
@click.option("--dataset", required=True, help="Ours (cifar10, ...) or NB-201's (cifar10-valid, ...).")
@click.option("--split", required=True, help="train, valid or test; or NB-201's x-valid, x-test, ori-test.")
@click.option("--metric", default="accuracy", show_default=True)
@click.option("--benchmark-epochs", default=200, show_default=True, type=int, help="Training budget of the ground truth.")
@click.option("--epochs", "old_epochs", default=None, type=int, hidden=True)
@click.option("--benchmark-seed", default="mean", show_default=True, help="'mean' over seeds, or one seed.")
@click.option("--seed", "old_seed", default=None, hidden=True)
def query_cmd(benchmark: str, benchmark_file: str | None, old_file: str | None, arch: str, dataset: str, split: str,
              metric: str, benchmark_epochs: int, old_epochs: int | None, benchmark_seed: str,
              old_seed: str | None) -> None:
    """Print one ground-truth value, the optimum and the regret as JSON."""
    from benchmarks import load_benchmark
    from benchmarks.base import HIGHER_IS_BETTER

    for old, new, value, param in (("--file", "--benchmark-file", old_file, "benchmark_file"),
                                   ("--epochs", "--benchmark-epochs", old_epochs, "benchmark_epochs"),
                                   ("--seed", "--benchmark-seed", old_seed, "benchmark_seed")):
        if value is not None:
            deprecated(old, new, new_given=given(param))
    file = benchmark_file or old_file
    epochs = old_epochs if old_epochs is not None else benchmark_epochs
    seed = old_seed if old_seed is not None else benchmark_seed
    dataset, split = _resolve_names(dataset, split)
    b = load_benchmark(benchmark, file)
    s: str | int = int(seed) if seed.isdigit() else seed
    a = b.space.from_index(int(arch)) if arch.strip().isdigit() else b.space.from_str(arch)
    value = b.query(a, dataset, split, metric, epochs, s)
    objective = metric in HIGHER_IS_BETTER  # a cost (params, FLOPs, time) has no optimum
    opt = b.optimum(dataset, split, metric, epochs, s) if objective else None
    click.echo(json_text({
        "benchmark": benchmark, "arch": b.space.to_str(a), "index": _index(b.space, a),
        "dataset": dataset, "split": split, "metric": metric, "epochs": epochs, "seed": seed,
        "value": value, "optimum": opt.value if opt else None, "optimum_arch": opt.arch if opt else None,
        "regret": b.regret(a, dataset, split, metric, epochs, s) if objective else None}))


def _resolve_names(dataset: str, split: str) -> tuple[str, str]:
    """NB-201's official dataset / split names -> ours, said on stderr; a combination with no counterpart
    in our tables is an error (never another split)."""
    ours = {"train": "train", "valid": "valid", "test": "test", "x-valid": "valid", "x-test": "test"}
    if dataset == "cifar10-valid":
        if split not in ("train", "valid", "x-valid"):
            raise UserError("NB-201's cifar10-valid is trained on 25k images and evaluated on the other 25k "
                            "(split x-valid); its test numbers are not in our tables: for the model trained on "
                            "50k use --dataset cifar10 --split ori-test")
        new = ("cifar10", ours[split])
    elif split == "ori-test":
        if dataset != "cifar10":
            raise UserError("ori-test is NB-201's CIFAR-10 test split; CIFAR-100 and ImageNet16-120 use x-valid / "
                            "x-test (halves of their test set)")
        new = ("cifar10", "test")
    elif split in ours:
        new = (dataset, ours[split])
    else:
        raise UserError(f"unknown split {split!r} (ours: train, valid, test; NB-201's: x-valid, x-test, ori-test)")
    if new != (dataset, split):
        click.echo(f"note: NB-201's {dataset} / {split} is {new[0]} / {new[1]} here", err=True)
    return new


def _index(space, arch):
    try:
        return space.index(arch)
    except Exception:
        return None
