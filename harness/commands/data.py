"""``harness data``: make an official-format dataset folder from image arrays (the shared partial CIFAR-10)."""

from __future__ import annotations

import click

from harness.commands.base import cli


@cli.group("data")
def data_cmd() -> None:
    """Dataset folders in the official formats, from arrays a user has."""


@data_cmd.command("cifar10")
@click.argument("npz", type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False),
              help="Folder to hold cifar-10-batches-py (then: --data-dir OUT).")
@click.option("--n-train", default=None, type=click.IntRange(min=1), help="Keep the first N training images.")
def cifar10_cmd(npz, out, n_train) -> None:
    """Write OUT/cifar-10-batches-py (the official python batches) from NPZ's x_train, y_train, x_test, y_test
    (uint8 [N, 3, 32, 32] images, labels 0..9), e.g. ../shared/data/cifar/cifar10_partial.npz."""
    from harness.data.convert import write_cifar10_batches

    write_cifar10_batches(npz, out, n_train)
    click.echo(f"wrote {out}/cifar-10-batches-py (use --data-dir {out})")
