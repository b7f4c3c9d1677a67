"""``harness gpu-check``: the prepared GPU check (``harness.bench.gpu_check``), one JSON file per stage."""

from __future__ import annotations

import click

from harness.commands.base import FINITE, cli
from search_spaces.errors import ConfigError


@cli.command("gpu-check")
@click.option("--device", default="cuda", show_default=True, help="cuda, cuda:N (or cpu with --tiny).")
@click.option("-o", "--out", default="gpu-check", show_default=True, type=click.Path(file_okay=False),
              help="Folder for <n>-<stage>.json and summary.json.")
@click.option("--tiny", is_flag=True, help="Tiny sizes: the same stages in seconds (a CPU rehearsal).")
@click.option("--stages", default=",".join(("env", "tests", "bench", "options", "epoch")), show_default=True,
              help="Comma-separated stages to run (rerun only the failed ones).")
@click.option("--limit-scale", default=1.0, show_default=True, type=FINITE,
              help="Multiply every stage's time limit (e.g. 5 for a --tiny run on a slow CPU).")
@click.option("--flops", is_flag=True, help="Only print the FLOPs of one step of each bench case (here, no GPU).")
def gpu_check_cmd(device: str, out: str, tiny: bool, stages: str, limit_scale: float, flops: bool) -> None:
    """Run the GPU check's stages, each in its own process under its own time limit."""
    from harness.bench.gpu_check import NAMES, PROTOCOL, TINY, run_check, step_costs

    if flops:
        for name, r in step_costs(TINY if tiny else PROTOCOL).items():
            click.echo(f"{name:16s} {r['gflop_per_step']:8.1f} GFLOP/step  "
                       f"{r['seconds_under_counter']:6.2f} s/step here (under the counter)")
        return

    chosen = tuple(s.strip() for s in stages.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(NAMES))
    if unknown or not chosen:
        raise ConfigError(f"unknown stage(s) {unknown or chosen} (stages: {', '.join(NAMES)})")
    if device == "cpu" and not tiny:
        raise ConfigError("the protocol-size check is for a GPU: use --device cuda, or --tiny on a CPU")
    if limit_scale <= 0 or limit_scale != limit_scale:
        raise ConfigError(f"--limit-scale must be positive, got {limit_scale}")
    summary = run_check(device, out, tiny=tiny, stages=chosen, limit_scale=limit_scale, echo=click.echo)
    bad = [k for k, v in summary["stages"].items() if v["status"] != "ok"]
    click.echo(f"written: {out}/summary.json" + (f"; not ok: {', '.join(bad)}" if bad else "; all ok"))
    if bad:
        raise SystemExit(1)
