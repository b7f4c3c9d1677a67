"""``harness bench``: seconds per search step, default path vs the eager reference.

For each case (NB-201 DARTS 1st / 2nd order, GDAS; S1 DARTS-space first order
when registered) it times ``steps`` optimizer steps after ``warmup`` steps on
random CIFAR-shaped batches, on the default (fused) supernet and on the eager
reference (``set_fused(False)``: plain per-op loop), and reports the median
step time, the speed-up of the default over the eager path, an epoch estimate
for the CIFAR-10 search split (25k/25k, batch 64 -> 390 steps) and peak
memory. Timings are for the machine it runs on; nothing here is a test.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from harness.optimizers import create_optimizer, supernet_overrides
from search_spaces import SupernetConfig, get_space, list_spaces


@dataclass(frozen=True)
class BenchCase:
    space: str
    optimizer: str
    channels: int
    depth: int
    batch: int


def cases(quick: bool) -> list[BenchCase]:
    c, d, b = (8, 1, 32) if quick else (16, 5, 64)
    out = [BenchCase("nb201", o, c, d, b) for o in ("darts", "darts-2nd", "gdas")]
    if "s1" in list_spaces():
        out.append(BenchCase("s1", "darts", c, 3 if quick else 8, b))
    return out


def time_case(case: BenchCase, device: torch.device, steps: int, warmup: int, fused: bool) -> dict:
    space = get_space(case.space)
    cfg = space.default_config().with_overrides(channels=case.channels, depth=case.depth, num_classes=10,
                                                in_channels=3, input_size=32,
                                                **supernet_overrides(case.optimizer))
    torch.manual_seed(0)
    net = space.build_supernet(cfg).to(device)
    if hasattr(net, "set_fused"):
        net.set_fused(fused)
    elif not fused:
        return {}
    opt = create_optimizer(case.optimizer, space, net, epochs=1, steps_per_epoch=steps + warmup, seed=0)
    g = torch.Generator(device=device).manual_seed(0)
    batch = lambda: (torch.randn(case.batch, 3, 32, 32, generator=g, device=device),  # noqa: E731
                     torch.randint(0, 10, (case.batch,), generator=g, device=device))
    opt.on_epoch_start(0)
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(steps + warmup):
        tb, vb = batch(), batch()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        opt.step(tb, vb)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"seconds_per_step": med, "epoch_seconds_estimate": med * 390, "peak_memory_mib": peak}


def run_bench(device: str = "cpu", quick: bool = True, steps: int = 5, warmup: int = 2,
              out: str | Path | None = None) -> list[dict]:
    dev = torch.device(device)
    rows = []
    for case in cases(quick):
        fused = time_case(case, dev, steps, warmup, fused=True)
        eager = time_case(case, dev, steps, warmup, fused=False)
        row = {**asdict(case), "device": str(dev), **{f"default_{k}": v for k, v in fused.items()}}
        if eager:
            row["eager_seconds_per_step"] = eager["seconds_per_step"]
            row["speedup_vs_eager"] = eager["seconds_per_step"] / fused["seconds_per_step"]
        rows.append(row)
    result = {"machine": platform.machine(), "torch": torch.__version__,
              "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor(),
              "quick": quick, "steps": steps, "rows": rows}
    if out is not None:
        Path(out).write_text(json.dumps(result, indent=2))
    return rows
