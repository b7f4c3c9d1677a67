"""``harness reproduce``: one command per published table or figure, published numbers beside ours, a verdict."""

from __future__ import annotations

import sys

import click

from harness.commands.base import SEED, _progress_printer, cli
from search_spaces.errors import ConfigError


@cli.command("reproduce")
@click.argument("recipe_id", required=False)
@click.option("--list", "list_", is_flag=True, help="List the recipes: id, tier, source, what each needs.")
@click.option("--show", is_flag=True, help="Print the recipe's parts, their tiers, needs and rows; run nothing.")
@click.option("--data-dir", default=None, help="Folder with the official dataset files.")
@click.option("--benchmark-file", default=None, help="Ground-truth file or folder (NB-201 .pth / NATS dir / CSV, "
                                                       "NB-101 tfrecord).")
@click.option("--logs", default=None, help="Published search logs (robustdarts-eigenvalue).")
@click.option("--device", default="auto", show_default=True, help="auto (cuda if available, else cpu), cpu, cuda, "
                                                                   "cuda:N; an explicit cpu runs gpu-tier parts too.")
@click.option("--seeds", multiple=True, type=SEED, help="Seeds: --seeds 0 1 2 [default: the recipe's].")
@click.option("--scale", default="full", show_default=True, type=click.Choice(["full", "reduced"]),
              help="reduced: the recipe's CPU-sized version, labelled and never scored against published numbers.")
@click.option("--published", "published_files", multiple=True,
              help="More published rows (CSV with the columns of harness/references/published.csv); may repeat.")
@click.option("--jobs", default=None, type=int, help="Parallel searches (sweep); default one per GPU, else 1.")
@click.option("-o", "--out", default=None, type=click.Path(file_okay=False),
              help="Output folder [default: results/reproductions/RECIPE_ID].")
def reproduce_cmd(recipe_id, list_, show, data_dir, benchmark_file, logs, device, seeds, scale, published_files,
                  jobs, out) -> None:
    """Run (or resume) RECIPE_ID and write OUT/reproduction.md: ours beside the published numbers, with a verdict."""
    from harness.recipes.catalogue import RECIPES, get_recipe

    if list_:
        from harness.recipes.compare import load_published
        from harness.recipes.reproduce import published_counts

        pub = load_published(published_files)
        rows = [("id", "tiers", "published/ours/cpu", "needs", "source")]
        for r in RECIPES.values():
            rows.append((r.id, r.tiers, "/".join(map(str, published_counts(r, pub))), r.needs_text(), r.source))
        w = [max(len(row[i]) for row in rows) + 2 for i in range(4)]
        for row in rows:
            click.echo("".join(v.ljust(n) for v, n in zip(row, w)) + row[4])
        click.echo("\ntiers: cpu runs on a laptop CPU with data a user has or the project ships; gpu needs a GPU; "
                   "'needs F' needs the official file F. published/ours/cpu: the published numbers the "
                   "recipe lists, how many of them a part of this harness computes, and how many a cpu-tier part "
                   "computes. Each recipe: harness "
                   "reproduce ID --show.")
        return
    if not recipe_id:
        raise ConfigError("usage: harness reproduce RECIPE_ID [options] (harness reproduce --list shows the ids)")
    recipe = get_recipe(recipe_id)
    if show:
        click.echo(f"{recipe.id}: {recipe.title}\nsource: {recipe.source}\ntier: {recipe.tier}; seeds: "
                   f"{' '.join(map(str, recipe.seeds))}")
        for p in recipe.parts:
            click.echo(f"- {p.name} [{p.tier}; scale {'/'.join(p.scales)}; {p.executor}] needs: "
                       f"{'; '.join(n.what for n in p.needs) or 'nothing'}; {len(p.rows)} rows")
        if recipe.missing:
            click.echo(f"notes on the published numbers: {recipe.missing}")
        return
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    from harness.recipes.recipe import Context
    from harness.recipes.reproduce import run_recipe
    from harness.run.build import resolve_device

    ctx = Context(out=out or f"results/reproductions/{recipe.id}", benchmark_file=benchmark_file, data_dir=data_dir,
                  logs=logs, device=str(resolve_device(device)), device_explicit=device != "auto",
                  seeds=tuple(seeds) or recipe.seeds, scale=scale, jobs=jobs, progress=_progress_printer())
    rep = run_recipe(recipe, ctx, tuple(published_files), ["harness", "reproduce", *sys.argv[2:]]
                     if len(sys.argv) > 1 and sys.argv[1] == "reproduce" else None)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(rep["counts"].items())) or "findings only (no rows to compare)"
    click.echo(f"{recipe.id}: {counts}; {ctx.out}/reproduction.md")
