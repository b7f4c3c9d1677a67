"""``harness import robustdarts PATH -o OUT``: published search logs into the harness run format."""

from __future__ import annotations

import click

from harness.commands.base import cli


@cli.group("import")
def import_group() -> None:
    """Import published search logs as harness run directories."""


@import_group.command("robustdarts")
@click.argument("path", type=click.Path(exists=True))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Folder for the run directories.")
def robustdarts_cmd(path: str, out: str) -> None:
    """Import RobustDARTS logs (a setting directory {dp}_{wd}-{job} or any folder above it)."""
    from harness.run.import_robustdarts import import_robustdarts

    runs = import_robustdarts(path, out)
    click.echo(f"imported {len(runs)} runs into {out}")
