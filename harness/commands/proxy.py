"""``harness baseline proxy``: sample N random architectures, keep the best by a zero-cost proxy.

Registered on the ``baseline`` group of ``harness.commands.baseline``; the CLI
loads it when ``harness.commands.proxy`` is in ``harness.cli._COMMANDS``.
"""

from __future__ import annotations

import click

from harness.commands.base import SEED
from harness.commands.baseline import baseline_cmd


@baseline_cmd.command("proxy")
@click.option("--space", default="nb201", show_default=True)
@click.option("--proxy", "proxy_name", default="synflow", show_default=True,
              type=click.Choice(["snip", "grasp", "synflow"]))
@click.option("--n", default=100, show_default=True, type=int, help="Architectures sampled.")
@click.option("--dataset", default="cifar10", show_default=True)
@click.option("--data-dir", default=None, help="Official dataset files (SNIP/GraSP score on one search-valid batch).")
@click.option("--batch-size", default=64, show_default=True, type=int)
@click.option("--channels", default=None, type=int, help="Width of the scored networks [default: the space's].")
@click.option("--depth", default=None, type=int, help="Depth of the scored networks [default: the space's].")
@click.option("--benchmark", default=None, help="Report the pick's ground truth from this benchmark.")
@click.option("--benchmark-file", default=None)
@click.option("--benchmark-epochs", default=None, type=int,
              help="Epoch budget of the reported test accuracy [default: the benchmark's largest].")
@click.option("--benchmark-seed", default="mean", show_default=True,
              help="Seed aggregation of the reported test accuracy: 'mean' or a seed.")
@click.option("--seeds", multiple=True, type=SEED, help="Seeds (several allowed). [default: 0 1 2]")
@click.option("--device", default="auto", show_default=True, help="auto (cuda if available, else cpu), cpu, cuda, cuda:N.")
def proxy_cmd(space, proxy_name, n, dataset, data_dir, batch_size, channels, depth, benchmark, benchmark_file,
              benchmark_epochs, benchmark_seed, seeds, device) -> None:
    """Pick the best of N uniformly sampled architectures by a training-free proxy."""
    from benchmarks import load_benchmark
    from harness.data import DATASETS, load_dataset, normalize
    from harness.metrics import proxies
    from harness.run.build import resolve_device
    from search_spaces import get_space
    from search_spaces.errors import ConfigError

    device = str(resolve_device(device))
    sp = get_space(space)
    info = DATASETS[dataset] if dataset in DATASETS else None
    batch = None
    if data_dir is not None or dataset == "digits":
        splits = load_dataset(dataset, data_dir, device)
        x, y = splits.search_valid
        batch = (normalize(x[:batch_size], splits.mean, splits.std) if splits.mean else x[:batch_size].float() / 255,
                 y[:batch_size])
    elif proxy_name in proxies.DATA_PROXIES:
        raise ConfigError(f"proxy {proxy_name!r} needs --data-dir (only synflow is data-free)")
    cfg = sp.default_config().with_overrides(channels=channels, depth=depth)
    if info is not None:
        cfg = cfg.with_overrides(num_classes=info.num_classes, in_channels=info.in_channels,
                                 input_size=info.input_size)
    bench = load_benchmark(benchmark, benchmark_file) if benchmark else None
    if bench is not None:
        b_epochs = benchmark_epochs or bench.final_epochs(dataset, "accuracy")
        b_seed = int(benchmark_seed) if benchmark_seed.isdigit() else benchmark_seed
        click.echo(f"ground truth: {bench.name} {dataset} test accuracy @{b_epochs} epochs, seed {b_seed}")
    for s in seeds or (0, 1, 2):
        res = proxies.proxy_search(sp, proxy_name, n, batch, cfg, seed=s, device=device)
        line = f"seed {s}: {sp.to_str(res.best)} ({proxy_name} {res.scores.max():.4g})"
        if bench is not None:
            line += f", test acc {bench.query(res.best, dataset, 'test', 'accuracy', b_epochs, b_seed):.2f}"
        click.echo(line)
