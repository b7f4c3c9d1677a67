"""``harness compare``: which differences between optimizers are real (intervals, tests, power, ranks)."""

from __future__ import annotations

import click

from harness.commands.base import FINITE, cli


@cli.command("compare")
@click.argument("runs", nargs=-1, required=True)
@click.option("--against", default=None, help="Compare every competitor with this one (optimizer or label); "
                                               "default: every pair.")
@click.option("--metric", default="test_regret", show_default=True,
              help="Trajectory column: test_regret, test_acc, valid_acc, or any other.")
@click.option("--epoch", default="final", show_default=True, help="'final' or N (after N search epochs).")
@click.option("--alpha", default=0.05, show_default=True, type=FINITE, help="Test level (two-sided).")
@click.option("--threshold", default=None, type=FINITE, help="Report when each run first reaches this value.")
@click.option("--delta", default=None, type=FINITE,
              help="Difference the 'seeds for delta' column is computed for [default: each pair's observed].")
@click.option("--log/--linear", "log", default=None, help="Anytime figures on a symlog / linear axis "
                                                          "[default: symlog when curves span more than 10x].")
@click.option("-o", "--out", default=None, type=click.Path(file_okay=False),
              help="Write comparison.md/.tex, summary.csv, pairs.csv and the figures here.")
def compare_cmd(runs, against, metric, epoch, alpha, threshold, delta, log, out) -> None:
    """Compare the optimizers of RUNS (folders of runs) per setting: intervals, tests, effect sizes, power, and
    ranks across settings with the critical-difference diagram (Demsar 2006)."""
    from harness.reporting.compare import CompareConfig, compare
    from harness.reporting.compare_render import markdown, write
    from harness.reporting.tables import parse_epoch

    c = compare(runs, CompareConfig(metric=metric, epoch=parse_epoch(epoch), against=against, alpha=alpha,
                                    threshold=threshold, delta=delta))
    click.echo(markdown(c), nl=False)
    if out:
        files = write(c, out, log)
        click.echo(f"wrote {len(files)} files to {out}", err=True)
