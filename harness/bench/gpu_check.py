"""The prepared GPU check: every CUDA path exercised once, each stage under its own time limit.

``harness gpu-check --device cuda --out gpu-check`` runs five stages, each in
its own process under its own time limit, so a stage that fails or hangs costs
only itself; each writes ``<n>-<stage>.json`` as soon as it ends, and
``summary.json`` lists them (6 files, under the device tool's 8):

1. ``env``: torch, CUDA, device name and memory.
2. ``tests``: ``pytest -m gpu`` and a smoke run of every optimizer on
   NB-201, S1, S5 and NB-1Shot1 space 1 at a tiny size on the device.
3. ``bench``: NB-201 DARTS first / second order and GDAS at protocol size
   (C=16, 5 cells per stage, batch 64): default path vs per-op loop vs eager
   reference, peak memory; 4 seeds batched vs one; S1 DARTS with one
   dominant-eigenvalue evaluation.
4. ``options``: NB-201 DARTS plain fp32 vs bf16, channels-last and, on a GPU,
   ``--compile reduce-overhead`` (CUDA graphs), compile time apart.
5. ``epoch``: one real NB-201 DARTS first-order search epoch at protocol size
   (25,000 / 25,000 images, batch 64, 390 steps, the ``nb201/darts`` preset)
   on CIFAR-shaped data tiled from the real partial CIFAR-10 images of
   ``../shared/data`` (timing only).

``--tiny`` runs the same stages at tiny sizes (seconds on a CPU); the test
suite runs it. ``--stages`` reruns only some. Time limits and the GPU-time
estimate of each stage are in ``STAGES`` (docs/performance.md).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from search_spaces.io import finite

#: (name, time limit in seconds on a GPU, estimated GPU seconds): estimates from the step FLOPs and the
#: CPU rehearsal (docs/performance.md); the limits leave room for a slow start. Limits add up to more
#: than one device command may run (600 s): run env,tests,bench and options,epoch as two commands.
STAGES: tuple[tuple[str, int, int], ...] = (
    ("env", 60, 10), ("tests", 180, 110), ("bench", 240, 60), ("options", 300, 150), ("epoch", 150, 30))
NAMES = tuple(s[0] for s in STAGES)
SMOKE_SPACES = ("nb201", "s1", "s5", "nb1shot1-s1")
_ROOT = Path(__file__).resolve().parents[2]
#: Where the partial CIFAR-10 images are looked for: beside the checkout (``../shared/data``), inside it
#: (the device machine's copy), or a copy carried along in ``.gpu-data/``.
CIFAR_CANDIDATES = (_ROOT.parent / "shared" / "data" / "cifar" / "cifar10_partial.npz",
                    _ROOT / "shared" / "data" / "cifar" / "cifar10_partial.npz",
                    _ROOT / ".gpu-data" / "cifar10_partial.npz")


@dataclass(frozen=True)
class Sizes:
    """Sizes of one gpu-check run (protocol size, or ``tiny`` for a CPU run in seconds)."""

    channels: int
    depth: int
    s1_depth: int
    batch: int
    steps: int
    warmup: int
    batched_k: int
    epoch_images: int  # per search split
    smoke_spaces: tuple[str, ...]


PROTOCOL = Sizes(16, 5, 8, 64, 5, 2, 4, 25_000, SMOKE_SPACES)
TINY = Sizes(4, 1, 3, 8, 1, 1, 2, 32, ("nb201", "s5"))


# -- stages (run in a child process: python -m harness.bench.gpu_check STAGE DEVICE OUT [--tiny]) -----------
def stage_env(device: str, sizes: Sizes) -> dict[str, Any]:
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count(), "platform": platform.platform()}
    if device.startswith("cuda"):
        free, total = torch.cuda.mem_get_info(torch.device(device))
        out.update(device_name=torch.cuda.get_device_name(torch.device(device)), memory_total_gib=total / 2**30,
                   memory_free_gib=free / 2**30, capability=list(torch.cuda.get_device_capability(torch.device(device))))
    return out


def _smoke_overrides(optimizer: str) -> dict[str, Any]:
    if optimizer == "enas":
        return {"n_candidates": 2, "n_candidates_epoch": 2, "controller_train_steps": 1,
                "controller_num_aggregate": 2}
    if optimizer in ("rsws", "setn", "oneshot", "nsa"):
        return {"n_candidates": 2}
    if optimizer == "pc-darts":
        return {"partial_channels": 2, "warmup_epochs": 0}
    return {}


def smoke(device: str, spaces: tuple[str, ...]) -> dict[str, Any]:
    """Every optimizer on every space of ``spaces``: two steps, the epoch end and a selection on ``device``."""
    import torch

    from harness.optimizers import create_optimizer, list_optimizers, supernet_overrides
    from harness.optimizers.parts.candidates import SelectionBatches
    from search_spaces import get_space

    dev = torch.device(device)
    failures, ran = {}, 0
    for space_name in spaces:
        space = get_space(space_name)
        for name in list_optimizers():
            over = _smoke_overrides(name)
            try:
                cfg = space.default_config().with_overrides(
                    num_classes=3, in_channels=3, input_size=8, channels=4,
                    depth=1 if space_name in ("nb201",) or space_name.startswith("nb1shot1") else 3,
                    **supernet_overrides(name, over))
                torch.manual_seed(0)
                opt = create_optimizer(name, space, space.build_supernet(cfg).to(dev), over, epochs=2,
                                       steps_per_epoch=2, seed=0)
                g = torch.Generator(device=dev).manual_seed(0)
                batch = lambda: (torch.randn(8, 3, 8, 8, generator=g, device=dev),  # noqa: E731
                                 torch.randint(0, 3, (8,), generator=g, device=dev))
                opt.on_epoch_start(0)
                for _ in range(2):
                    opt.step(batch(), batch())
                opt.on_epoch_end(0)
                space.check(opt.select(SelectionBatches([batch()])))
                ran += 1
            except Exception as e:  # a failure is the finding: record it and go on
                failures[f"{space_name}/{name}"] = f"{type(e).__name__}: {e}"
    return {"ran": ran, "failed": len(failures), "failures": failures}


def stage_tests(device: str, sizes: Sizes) -> dict[str, Any]:
    root = _ROOT
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", "tests"]
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    tail = (r.stdout + r.stderr).strip().splitlines()[-15:]
    return {"pytest_gpu": {"command": " ".join(cmd[2:]), "returncode": r.returncode, "tail": tail},
            "smoke": smoke(device, sizes.smoke_spaces)}


def _case(space: str, optimizer: str, sizes: Sizes):
    from harness.bench.suite import BenchCase

    return BenchCase(space, optimizer, sizes.channels, sizes.s1_depth if space == "s1" else sizes.depth, sizes.batch)


def stage_bench(device: str, sizes: Sizes) -> dict[str, Any]:
    import torch

    from harness.bench.suite import time_batched_seeds, time_case, time_eigen

    dev = torch.device(device)
    rows = {}
    for name in ("nb201/darts", "nb201/darts-2nd", "nb201/gdas"):
        space, opt = name.split("/")
        rows[name] = time_case(_case(space, opt, sizes), dev, sizes.steps, sizes.warmup)
    darts = _case("nb201", "darts", sizes)
    rows["nb201/darts batched seeds"] = time_batched_seeds(darts, dev, sizes.steps, sizes.warmup, sizes.batched_k)
    rows["s1/darts eigenvalue"] = time_eigen(_case("s1", "darts", sizes), dev, sizes.steps)
    first = rows["nb201/darts"]["default"]["seconds_per_step"]
    return {"sizes": asdict(sizes), "rows": rows,
            "second_over_first_order": rows["nb201/darts-2nd"]["default"]["seconds_per_step"] / first,
            "batched_over_single": rows["nb201/darts batched seeds"]["batched_over_single"],
            "eigen_in_steps": rows["s1/darts eigenvalue"]["eigen_in_steps"]}


def stage_options(device: str, sizes: Sizes) -> dict[str, Any]:
    import torch

    from harness.bench.suite import options_for, time_options

    dev = torch.device(device)
    return {"sizes": asdict(sizes),
            "nb201/darts": time_options(_case("nb201", "darts", sizes), dev, sizes.steps, sizes.warmup,
                                        options_for(dev))}


def cifar_like(n: int, device: str, seed: int = 0):
    """``(x uint8 [n, 3, 32, 32], y int64 [n])``: the real partial CIFAR-10 training images tiled to ``n``
    (random images where ``../shared/data`` is absent); returns the source too."""
    import numpy as np
    import torch

    path = next((p for p in CIFAR_CANDIDATES if p.is_file()), None)
    if path is not None:
        with np.load(path) as z:
            x, y, src = z["x_train"], z["y_train"], f"tiled from {path.name} ({len(z['y_train'])} real images)"
    else:
        rng = np.random.default_rng(seed)
        x, y, src = rng.integers(0, 256, (512, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 512), "random"
    idx = np.arange(n) % len(y)
    return (torch.from_numpy(np.ascontiguousarray(x[idx])).to(device),
            torch.from_numpy(np.asarray(y[idx], dtype=np.int64)).to(device), src)


def stage_epoch(device: str, sizes: Sizes) -> dict[str, Any]:
    """One NB-201 DARTS (first order, ``nb201/darts`` preset) search epoch on tiled CIFAR-10, timed."""
    import torch

    from harness.data import BatchStream, augment_spec
    from harness.data.datasets import DATASETS
    from harness.optimizers import create_optimizer
    from harness.protocols import resolve_protocol
    from search_spaces import get_space

    dev = torch.device(device)
    info = DATASETS["cifar10"]
    proto = resolve_protocol("nb201", "darts")
    space = get_space("nb201")
    cfg = space.default_config().with_overrides(channels=sizes.channels, depth=sizes.depth, num_classes=10,
                                                in_channels=3, input_size=32)
    torch.manual_seed(0)
    opt = create_optimizer("darts", space, space.build_supernet(cfg).to(dev), proto.optimizer_values(), epochs=1,
                           steps_per_epoch=1, seed=0)
    x, y, src = cifar_like(2 * sizes.epoch_images, str(dev))
    batch = sizes.batch if sizes is TINY else proto.values["batch_size"]
    gens = [torch.Generator(device=dev).manual_seed(k) for k in (1, 2)]
    spec = augment_spec("cifar10")
    train = BatchStream(x[: sizes.epoch_images], y[: sizes.epoch_images], batch, gens[0], spec, info.mean, info.std)
    valid = BatchStream(x[sizes.epoch_images:], y[sizes.epoch_images:], batch, gens[1], spec, info.mean, info.std)
    steps = min(train.epoch_len, valid.epoch_len)
    opt.on_epoch_start(0)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.step(train.next(), valid.next())
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    sec = time.perf_counter() - t0
    return {"data": src, "images_per_split": sizes.epoch_images, "batch": batch, "steps": steps,
            "channels": sizes.channels, "cells_per_stage": sizes.depth, "preset": proto.preset,
            "epoch_seconds": sec, "seconds_per_step": sec / max(steps, 1)}


def step_costs(sizes: Sizes = PROTOCOL, device: str = "cpu") -> dict[str, dict[str, float]]:
    """GFLOP of one search step of each bench case (``torch.utils.flop_counter``), and its seconds here
    (under the counter): the basis of the GPU estimates in ``STAGES`` (docs/performance.md)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from harness.bench.suite import _batch, _make_optimizer

    dev, out = torch.device(device), {}
    for name in ("nb201/darts", "nb201/darts-2nd", "nb201/gdas", "s1/darts"):
        case = _case(*name.split("/"), sizes)
        opt = _make_optimizer(case, dev, 3)
        g = torch.Generator(device=dev).manual_seed(0)
        tb, vb = _batch(case, g, dev), _batch(case, g, dev)
        opt.step(tb, vb)  # first step outside the count (lazy set-up)
        with FlopCounterMode(display=False) as fc:
            t0 = time.perf_counter()
            opt.step(tb, vb)
            sec = time.perf_counter() - t0
        out[name] = {"gflop_per_step": fc.get_total_flops() / 1e9, "seconds_under_counter": sec}
    return out


_RUN = {"env": stage_env, "tests": stage_tests, "bench": stage_bench, "options": stage_options, "epoch": stage_epoch}


def _stage_main(argv: list[str]) -> int:
    """Child process: run one stage, write its JSON (``status`` ok or failed)."""
    name, device, out = argv[0], argv[1], Path(argv[2])
    sizes = TINY if "--tiny" in argv else PROTOCOL
    path = out / f"{NAMES.index(name) + 1}-{name}.json"
    t0 = time.perf_counter()
    try:
        result = {"status": "ok", "result": _RUN[name](device, sizes)}
    except Exception as e:
        result = {"status": "failed", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-4000:]}
    result.update(stage=name, device=device, tiny=sizes is TINY, seconds=time.perf_counter() - t0)
    _write(path, result)
    return 0 if result["status"] == "ok" else 1


def _write(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    # strict JSON: an infinite or NaN timing becomes null, never the non-JSON Infinity / NaN
    tmp.write_text(json.dumps(finite(obj), indent=2, default=str, allow_nan=False))
    tmp.replace(path)


def run_check(device: str, out: str | Path, tiny: bool = False, stages: tuple[str, ...] = NAMES,
              limit_scale: float = 1.0, echo=print) -> dict[str, Any]:
    """Run ``stages`` in order, each in a child process with its limit; write and return ``summary.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"device": device, "tiny": tiny, "stages": {}}
    for name, limit, estimate in STAGES:
        if name not in stages:
            continue
        cmd = [sys.executable, "-m", "harness.bench.gpu_check", name, device, str(out)] + (["--tiny"] if tiny else [])
        t0 = time.perf_counter()
        try:
            rc = subprocess.run(cmd, timeout=limit * limit_scale).returncode
            status = "ok" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            status = "timeout"
            _write(out / f"{NAMES.index(name) + 1}-{name}.json",
                   {"stage": name, "status": "timeout", "limit_seconds": limit * limit_scale, "device": device})
        sec = time.perf_counter() - t0
        summary["stages"][name] = {"status": status, "seconds": round(sec, 1), "limit_seconds": limit * limit_scale,
                                   "gpu_estimate_seconds": estimate}
        echo(f"[gpu-check] {name}: {status} in {sec:.1f} s (limit {limit * limit_scale:.0f} s)")
        _write(out / "summary.json", summary)
    return summary


if __name__ == "__main__":
    sys.exit(_stage_main(sys.argv[1:]))
