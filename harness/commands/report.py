"""``harness report RUNS... -o DIR``: one self-contained HTML page with tables, figures and configs."""

from __future__ import annotations

import click

from harness.commands.base import cli


@cli.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--title", default="NAS harness report", show_default=True)
@click.option("--no-references", is_flag=True, help="Leave published reference rows out of the tables.")
@click.option("--log/--linear", "log_regret", default=None,
              help="Regret axis: symlog or linear [default: symlog when the curves span more than 10x].")
@click.option("--max-configs", default=200, show_default=True, type=int, help="Run configs shown in full.")
def report_cmd(runs, out, title, no_references, log_regret, max_configs) -> None:
    """Write OUT/index.html (images embedded), OUT/figures/*.png|pdf and OUT/runs.parquet for RUNS."""
    from harness.reporting.report import ReportConfig, build_report

    cfg = ReportConfig(title=title, references=not no_references, log_regret=log_regret, max_configs=max_configs)
    page = build_report(list(runs), out, cfg)
    click.echo(f"wrote {page} ({page.stat().st_size // 1024} KiB, self-contained)")
