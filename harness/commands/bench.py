"""``harness bench``: search-step throughput (a benchmark script, never a test)."""

from __future__ import annotations

import click

from harness.commands.base import cli, deprecated, given


@cli.command("bench")
@click.option("--device", default="auto", show_default=True, help="auto (cuda if available, else cpu), cpu, cuda, cuda:N.")
@click.option("--quick", is_flag=True, help="Reduced size (C=8, 1 cell per stage, batch 32) for CPUs.")
@click.option("--steps", default=5, show_default=True, type=click.IntRange(1), help="Timed steps per case (median reported).")
@click.option("-o", "--out", "json_out", default="bench.json", show_default=True, help="Where to write the JSON.")
@click.option("--json", "old_json", default=None, hidden=True)
@click.option("--only", multiple=True, metavar="SPACE/OPTIMIZER",
              help="Run only this case (repeatable), e.g. nb201/darts; rows measured on it come along.")
@click.option("--shared-cpu", is_flag=True, help="Instead: a short search's wall and CPU seconds under the old and "
                                                  "the new OpenMP wait policy, quiet and beside 2 busy processes.")
def bench_cmd(device: str, quick: bool, steps: int, json_out: str, old_json: str | None,
              only: tuple[str, ...], shared_cpu: bool) -> None:
    """Seconds per search step of the default path and of the eager reference."""
    from harness.bench.suite import run_bench, select_cases
    from harness.run.config import ConfigError

    if shared_cpu:
        import json

        from harness.bench.shared_cpu import shared_cpu_bench
        from harness.commands.base import _progress_printer
        from search_spaces.io import atomic_write_text

        r = shared_cpu_bench(epochs=max(steps // 2, 1), rounds=3, progress=_progress_printer())
        atomic_write_text(json_out, json.dumps(r, indent=1))
        for load in ("quiet", "loaded"):
            x = r[load]
            click.echo(f"{load:6s} old {x['wall_s']['old']:6.1f} s wall {x['cpu_s']['old']:6.1f} CPU-s | new "
                       f"{x['wall_s']['new']:6.1f} s wall {x['cpu_s']['new']:6.1f} CPU-s | CPU old/new "
                       f"{x['cpu_ratio_old_over_new']:.2f}, speed new/old {x['speed_ratio_new_over_old']:.2f}")
        click.echo(f"{r['cpus']} CPUs, load average {r['load_before']:.2f} before; wrote {json_out}")
        return

    try:
        select_cases(quick, only)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if old_json is not None:
        deprecated("--json", "-o/--out", new_given=given("json_out"))
        json_out = old_json
    rows = run_bench(device, quick, steps, out=json_out, only=only)
    click.echo(f"{'space':6s} {'optimizer':10s} {'default s/step':>14s} {'loop s/step':>11s} {'eager s/step':>12s} "
               f"{'speedup':>8s} {'fused':>6s} {'arch-only':>9s} {'epoch est. (s)':>14s}")
    nan = float("nan")
    for r in (r for r in rows if r.get("case", "default_vs_eager") == "default_vs_eager"):
        click.echo(f"{r['space']:6s} {r['optimizer']:10s} {r['default_seconds_per_step']:14.4f} "
                   f"{r.get('loop_seconds_per_step', nan):11.4f} {r.get('eager_seconds_per_step', nan):12.4f} "
                   f"{r.get('speedup_vs_eager', nan):8.2f} {r.get('fused_speedup', nan):6.2f} "
                   f"{r.get('arch_only_grads_speedup', nan):9.2f} {r['default_epoch_seconds_estimate']:14.1f}")
    click.echo("speedup = eager / default; fused = loop / default; arch-only = eager / loop (see harness/bench/suite.py)")
    for r in rows:
        if r.get("case") == "batched_seeds":
            click.echo(f"{r['space']} {r['optimizer']}: {r['batched_k']} seeds batched "
                       f"{r['batched_seconds_per_step']:.4f} s/step, one seed {r['single_seconds_per_step']:.4f} s/step, "
                       f"batched/single {r['batched_over_single']:.2f}")
        elif r.get("case") == "data":
            click.echo(f"data (one step: 2 batches of {r['batch']}): batched on the device {r['data_default_ms']:.2f} ms, "
                       f"per-image reference {r['data_reference_ms']:.2f} ms ({r['data_speedup']:.1f}x)")
        elif r.get("case") == "kernels":
            click.echo(f"kernels (fwd+bwd ms): avg pool native {r['pool_native_ms']:.2f} / box-sum conv "
                       f"{r['pool_box_ms']:.2f}; 1x1 kernels padded into the 3x3 conv {r['conv_padded_ms']:.2f} / "
                       f"separate 1x1 conv {r['conv_split_ms']:.2f}; 1x1 conv native {r['conv1x1_native_ms']:.2f} / "
                       f"matrix product {r['conv1x1_matmul_ms']:.2f}; BN native {r['bn_native_ms']:.2f} / "
                       f"row statistics {r['bn_rows_ms']:.2f}")
        elif r.get("case") == "options":
            parts = [f"{o} {r[f'{o}_seconds_per_step']:.4f} ({r[f'{o}_over_fp32']:.2f}x)" for o in r["options"]]
            click.echo(f"{r['space']} {r['optimizer']} options (s/step, over fp32): fp32 "
                       f"{r['fp32_seconds_per_step']:.4f}; " + "; ".join(parts))
        elif r.get("case") == "eigen":
            click.echo(f"{r['space']} {r['optimizer']}: one eigenvalue evaluation {r['eigen_seconds']:.2f} s "
                       f"({r['eigen_hvps']} HVPs) = {r['eigen_in_steps']:.1f} search steps")
    click.echo(f"written: {json_out}")
