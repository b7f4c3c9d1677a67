"""``harness table RUNS...``: results table over seeds, optionally with published references."""

from __future__ import annotations

from pathlib import Path

import click

from harness.commands.base import cli, deprecated, printable


@cli.command("table")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", default="md", show_default=True, type=click.Choice(["md", "latex", "csv"]))
@click.option("--metric", default="accuracy", show_default=True, type=click.Choice(["accuracy", "regret"]))
@click.option("--epoch", default="final", show_default=True,
              help="'final' (each run's last epoch) or N: the value after N search epochs.")
@click.option("--decimals", default=2, show_default=True, type=int)
@click.option("--references", is_flag=True, help="Add published rows for the same benchmark/dataset/split (italic).")
@click.option("--references-file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Reference CSV (default: the shipped harness/references/published.csv).")
@click.option("--against", default=None, metavar="REFERENCE",
              help="Compare each row with a published method name, source (substring) or CSV file.")
@click.option("--dataframe", default=None, type=click.Path(dir_okay=False),
              help="Also save every run as one long-format parquet file here.")
@click.option("-o", "--out", "output", default=None, type=click.Path(dir_okay=False),
              help="Write the table here (default: stdout).")
@click.option("--output", "old_output", default=None, type=click.Path(dir_okay=False), hidden=True)
def table_cmd(runs, fmt, metric, epoch, decimals, references, references_file, against, dataframe, output,
              old_output) -> None:
    """Table of RUNS (run folders or folders holding them): rows = optimizer (and setting),
    columns = dataset x split, cells = mean ± std over seeds."""
    import pandas as pd

    from harness.references import load_references
    from harness.reporting.aggregate import load_frame, save_parquet
    from harness.reporting.tables import (TableConfig, cell_stats, compare_against, parse_epoch, reference_rows,
                                          render_against, render_table, resolve_against)
    from search_spaces.errors import UserError
    from search_spaces.io import atomic_write_text

    if old_output is not None:
        deprecated("--output", "-o/--out", new_given=output is not None)
        output = old_output
    cfg = TableConfig(metric=metric, epoch=parse_epoch(epoch), decimals=decimals)
    dropped: list[tuple[str, str]] = []
    frame = load_frame(runs, dropped)
    if frame["run_id"].nunique() == 0:
        raise UserError(f"no readable runs under {', '.join(runs)}" + (f" ({len(dropped)} left out, "
                        f"first: {dropped[0][1]})" if dropped else " (folders with config.json)"))
    for _, why in dropped:
        click.echo(printable(f"left out: {why}"), err=True)
    if dataframe:
        click.echo(f"long-format frame ({len(frame)} rows): {save_parquet(frame, dataframe)}", err=True)
    cells = cell_stats(frame, cfg)
    if cfg.epoch != "final":
        runs_ = frame.drop_duplicates("run_id")
        short = runs_[pd.to_numeric(runs_["last_epoch"], errors="coerce").fillna(-1) < cfg.epoch - 1]
        if len(short) == len(runs_):
            raise UserError(f"no run reaches epoch {cfg.epoch} (the longest has "
                            f"{int(pd.to_numeric(runs_['last_epoch'], errors='coerce').max()) + 1} epochs)")
        if len(short):
            ids = short["run_id"].tolist()
            click.echo(f"left out {len(ids)} run(s) shorter than epoch {cfg.epoch}: {', '.join(ids[:5])}"
                       + (" ..." if len(ids) > 5 else ""), err=True)
    if cells.empty or not (cells["n"] > 0).any():
        raise UserError(f"no finished run has a {metric} value at epoch {cfg.epoch} (runs found: "
                        f"{frame['run_id'].nunique()}; statuses: "
                        + ", ".join(f"{v} {k}" for k, v in frame.drop_duplicates("run_id")["status"].value_counts()
                                    .items()) + ")")
    refs_all = load_references(references_file) if (references or against) else None
    rr = reference_rows(cells, refs_all, metric) if references else None
    if references and (rr is None or not len(rr)):
        wanted = sorted({f"{b}: {d} {s}" for b, d, s in zip(cells["benchmark"], cells["dataset"], cells["split"])})
        click.echo(f"note: no published row matches these columns ({'; '.join(wanted)}); published rows cover "
                   "NB-201, the DARTS spaces and NB-1Shot1 on their datasets (harness/references/published.csv)",
                   err=True)
    text = render_table(cells, rr, cfg, fmt)
    if against:
        cands, by_name = resolve_against(refs_all, against)
        text += "\n" + render_against(compare_against(cells, cands, by_name), fmt, decimals)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(printable(text), nl=False)
