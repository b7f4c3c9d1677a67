"""``harness tabulate``: build a ground-truth table by training every architecture."""

from __future__ import annotations

import click

from harness.commands.base import FINITE, SEED, cli
from search_spaces.errors import ConfigError


@cli.command("tabulate")
@click.option("--space", default="s5", show_default=True)
@click.option("--dataset", default="digits", show_default=True)
@click.option("--data-dir", default=None)
@click.option("--seeds", multiple=True, type=SEED, help="Seeds (several allowed). [default: 0 1 2]")
@click.option("--epochs", default=10, show_default=True, type=int)
@click.option("--eval-epochs", default="3,6", show_default=True, help="Intermediate epochs to record, comma-separated.")
@click.option("--batch-size", default=128, show_default=True, type=int)
@click.option("--lr", default=0.1, show_default=True, type=FINITE)
@click.option("--channels", default=None, type=int)
@click.option("--depth", default=None, type=int)
@click.option("--subset", default=None, type=int, help="Use only this many images per split.")
@click.option("--sample", default=None, type=int, help="Tabulate N sampled architectures (for large spaces).")
@click.option("--limit", default=None, help="Only architectures START:STOP of the enumeration (slices, tests).")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="Parallel worker processes.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda if available, else cpu), cpu, cuda, cuda:N.")
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Output table folder.")
def tabulate_cmd(space, dataset, data_dir, seeds, epochs, eval_epochs, batch_size, lr, channels, depth, subset,
                 sample, limit, jobs, device, out) -> None:
    """Train every architecture of SPACE from scratch and write a canonical table (resumable)."""
    from harness.run.tabulate import TabulateConfig, tabulate

    lim = None
    if limit:
        a, sep, b = limit.partition(":")
        try:
            lim = (int(a), int(b))
        except ValueError:
            raise ConfigError(f"--limit must be START:STOP (two integers), got {limit!r}") from None
    try:
        evals = tuple(int(e) for e in eval_epochs.split(",") if e.strip())
    except ValueError:
        raise ConfigError(f"--eval-epochs must be comma-separated integers, got {eval_epochs!r}") from None
    cfg = TabulateConfig(space=space, dataset=dataset, data_dir=data_dir, seeds=tuple(seeds or (0, 1, 2)),
                         epochs=epochs, eval_epochs=evals,
                         batch_size=batch_size, lr=lr, channels=channels, depth=depth, subset=subset,
                         sample=sample, limit=lim, device=device)
    table = tabulate(cfg, out, jobs=jobs)
    click.echo(f"wrote {out}: {len(table.archs)} architectures x {len(table.seeds)} seeds")
