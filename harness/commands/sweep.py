"""``harness sweep PLAN``: expand a YAML plan into runs and execute the unfinished ones."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

import click

from harness.commands.base import FINITE, _progress_printer, cli


class Progress:
    """Live ``done/running/failed/remaining, ETA`` line; silent unless the stream is a terminal."""

    def __init__(self, total: int, jobs: int, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.jobs = total, max(1, jobs)
        self.done = self.failed = 0
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def line(self) -> str:
        finished = self.done + self.failed
        remaining = self.total - finished
        running = min(self.jobs, remaining)
        elapsed = time.monotonic() - self.t0
        # ETA from this sweep's own throughput: earlier, skipped runs do not count.
        eta = "?" if finished == 0 else _hms(elapsed / finished * remaining)
        return (f"sweep: {self.done} done, {running} running, {self.failed} failed, "
                f"{remaining - running} waiting | {_hms(elapsed)} elapsed, ETA {eta}")

    def update(self, status: str) -> None:
        with self._lock:
            if status == "failed":
                self.failed += 1
            else:
                self.done += 1
        self._draw()

    def _draw(self) -> None:
        if self.enabled:
            with self._lock:
                self.stream.write("\r\033[K" + self.line())
                self.stream.flush()

    def __enter__(self) -> Progress:
        if self.enabled:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self._draw()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()


def _hms(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"



@cli.command("sweep")
@click.argument("plan", type=click.Path(exists=True, dir_okay=False))
@click.option("--jobs", default=None, type=int, help="Parallel runs (local backend). [default: one per GPU, else 1]")
@click.option("--backend", default="local", show_default=True, type=click.Choice(["local", "ray"]))
@click.option("--address", default=None, help="Ray cluster address (default: start a local Ray).")
@click.option("--gpus-per-run", default=None, type=FINITE, help="Ray: GPUs per run. [default: 1 if the cluster has GPUs]")
@click.option("--cpus-per-run", default=1.0, show_default=True, type=FINITE, help="Ray: CPUs per run.")
@click.option("--device", default=None, help="Override every run's device (cpu, cuda, auto).")
@click.option("-o", "--out", default="results/runs", show_default=True, type=click.Path(file_okay=False))
@click.option("--skip-failed", is_flag=True, help="Leave runs whose last attempt failed (default: retry them).")
@click.option("--dry-run", is_flag=True, help="List the runs and their state; execute nothing.")
@click.option("--allow-failures", is_flag=True, help="Exit 0 even when runs failed (default: exit 3).")
def sweep_cmd(plan, jobs, backend, address, gpus_per_run, cpus_per_run, device, out, skip_failed, dry_run,
              allow_failures) -> None:
    """Run every (optimizer x setting x space x dataset x seed) of PLAN; finished runs are skipped,
    interrupted ones resumed, failures written to <run>/failed.json without stopping the sweep."""
    from dataclasses import replace

    from harness.run.sweep import Plan, SweepConfig, run_state, run_sweep

    configs = Plan.load(plan).expand()
    if device:
        configs = [replace(c, device=device) for c in configs]
    say = _progress_printer()
    sc = SweepConfig(out=out, jobs=jobs, backend=backend, address=address, gpus_per_run=gpus_per_run,
                     cpus_per_run=cpus_per_run, retry_failed=not skip_failed, progress=say)
    if dry_run:
        for c in configs:
            click.echo(f"{run_state(c, out):10s} {c.run_id()}")
        click.echo(f"{len(configs)} runs")
        return
    box: dict[str, Progress] = {}

    def start(n: int, j: int) -> None:
        box["p"] = Progress(n, j).__enter__()
        if say:
            say(f"sweep {plan}: {n} of {len(configs)} runs to do ({len(configs) - n} finished earlier), "
                f"{j} at a time; per-epoch lines follow")

    def result(r: dict) -> None:
        p = box["p"]
        p.update(r["status"])
        if say:  # one line per finished run, with the sweep's counter and ETA (also off a terminal)
            say(f"sweep [{p.done + p.failed}/{p.total}] {r['run_id']}: {r['status']} in {_hms(r['seconds'])}"
                + (f" ({str(r['error'])[:200]})" if r.get("error") else "") + " | " + p.line())

    try:
        results = run_sweep(configs, sc, on_start=start, on_result=result)
    except KeyboardInterrupt:
        click.echo("sweep interrupted: every run stopped at its last checkpoint with its lock released; "
                   f"run the same command again to resume ({out})", err=True)
        raise
    finally:
        if "p" in box:
            box["p"].__exit__(None, None, None)
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        if r["status"] == "failed":
            click.echo(f"failed: {r['run_id']}: {r['error']} (see {out}/{r['run_id']}/failed.json)", err=True)
    click.echo(f"sweep {plan}: {len(results)} runs: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    click.echo(f"next: harness table {out}  |  harness report {out} -o results/report")
    if counts.get("failed") and not allow_failures:
        raise SystemExit(3)  # some runs failed (listed above, after all the others ran); --allow-failures: 0
