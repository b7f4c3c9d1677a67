"""``harness baseline random``: random search without weight sharing (the "Random" table row)."""

from __future__ import annotations

import click

from harness.commands.base import SEED, cli


@cli.group("baseline")
def baseline_cmd() -> None:
    """Baselines that query the table directly (no supernet)."""


@baseline_cmd.command("random")
@click.option("--benchmark", default="s5-digits", show_default=True)
@click.option("--benchmark-file", default=None)
@click.option("--dataset", default="digits", show_default=True)
@click.option("--n", default=100, show_default=True, type=int, help="Architectures sampled.")
@click.option("--select-epochs", default=None, type=int, help="Budget of the validation accuracy used to pick.")
@click.option("--test-epochs", default=None, type=int, help="Budget of the reported test accuracy.")
@click.option("--seeds", multiple=True, type=SEED, help="Seeds (several allowed). [default: 0 1 2]")
@click.option("-o", "--out", default="results/runs", show_default=True)
def random_cmd(benchmark, benchmark_file, dataset, n, select_epochs, test_epochs, seeds, out) -> None:
    """Sample N architectures, pick the best by ground-truth validation accuracy."""
    from harness.run.baselines import RandomBaselineConfig, run_random_baseline

    for s in seeds or (0, 1, 2):
        cfg = RandomBaselineConfig(benchmark=benchmark, benchmark_file=benchmark_file, dataset=dataset, n=n,
                                   select_epochs=select_epochs, test_epochs=test_epochs, seed=s)
        f = run_random_baseline(cfg, out)
        click.echo(f"{cfg.run_id()}: test acc {f['gt_test_acc']:.2f}, regret {f['test_regret']:.2f}")
