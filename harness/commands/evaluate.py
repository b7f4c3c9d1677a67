"""``harness evaluate``: retrain a found architecture under the DARTS evaluation protocol."""

from __future__ import annotations

import click

from harness.commands.base import FINITE, SEED, _progress_printer, cli, deprecated


@cli.command("evaluate")
@click.argument("source")
@click.option("--space", default=None, help="Space of an architecture string (a run directory knows its own).")
@click.option("-o", "--out", default=None, type=click.Path(file_okay=False),
              help="Folder for results of an architecture string (a run directory records into itself).")
@click.option("--dataset", default="cifar10", show_default=True)
@click.option("--data-dir", default=None)
@click.option("--layers", default=20, show_default=True, type=int)
@click.option("--channels", default=36, show_default=True, type=int)
@click.option("--auxiliary/--no-auxiliary", default=True, show_default=True)
@click.option("--auxiliary-weight", default=0.4, show_default=True, type=FINITE)
@click.option("--cutout", default=16, show_default=True, type=int, help="Cutout square side (0: none).")
@click.option("--drop-path-prob", default=0.2, show_default=True, type=FINITE)
@click.option("--epochs", default=600, show_default=True, type=int)
@click.option("--batch-size", default=96, show_default=True, type=int)
@click.option("--lr", default=0.025, show_default=True, type=FINITE)
@click.option("--weight-decay", default=3e-4, show_default=True, type=FINITE)
@click.option("--grad-clip", default=5.0, show_default=True, type=FINITE)
@click.option("--seeds", multiple=True, type=SEED, help="Training seeds, evaluated in turn: --seeds 0 1 2. [default: 0]")
@click.option("--seed", "old_seed", default=None, type=SEED, hidden=True)
@click.option("--subset", default=None, type=int, help="Use only this many images per split.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda if available, else cpu), cpu, cuda, cuda:N.")
def evaluate_cmd(source, space, out, dataset, data_dir, layers, channels, auxiliary, auxiliary_weight, cutout,
                 drop_path_prob, epochs, batch_size, lr, weight_decay, grad_clip, seeds, old_seed, subset,
                 device) -> None:
    """Train SOURCE (a finished search-run directory or an architecture string) from scratch and test it.

    Records retrained_test_acc in the run's final.json; a killed evaluation resumes from its last epoch.
    """
    from harness.run.evaluate import EvalProtocol, evaluate

    if old_seed is not None:  # every other command says --seeds
        deprecated("--seed", "--seeds", new_given=bool(seeds))
        seeds = (old_seed,)
    for seed in seeds or (0,):
        p = EvalProtocol(dataset=dataset, data_dir=data_dir, layers=layers, channels=channels, auxiliary=auxiliary,
                         auxiliary_weight=auxiliary_weight, cutout=cutout, drop_path_prob=drop_path_prob,
                         epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, grad_clip=grad_clip,
                         seed=seed, subset=subset, device=device)
        final = evaluate(source, p, space=space, out=out, progress=_progress_printer())
        run = final["retrained"][f"seed{seed}"]
        click.echo(f"seed {seed}: test accuracy {run['test_acc']:.2f}% (error {run['test_error']:.2f}%); "
                   f"mean over {len(final['retrained'])} seed(s): {final['retrained_test_acc']:.2f}%")
