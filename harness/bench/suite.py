"""``harness bench``: seconds per search step, default path vs the eager reference.

For each case (NB-201 DARTS 1st / 2nd order, GDAS; S1 DARTS-space first order
when registered) it times ``steps`` optimizer steps after ``warmup`` steps on
random CIFAR-shaped batches in three modes and reports the median step time
of each, an epoch estimate for the CIFAR-10 search split (25k/25k, batch 64
-> 390 steps) and peak memory:

- ``default``: what ``harness run`` does (fused mixed op, architecture-only
  gradients in the architecture step).
- ``loop``: the supernet's plain per-edge, per-op loop (``set_fused(False)``:
  no fusion, every ``none`` multiplied by zero, native pooling), still with
  architecture-only gradients.
- ``eager`` (the eager reference): ``loop`` plus the first-order architecture
  step computing the weights' gradients too, as ``loss.backward()`` does in
  the DARTS / NB-201 reference code (``darts_grad.reference_gradients``).

``speedup_vs_eager`` = eager / default; ``fused_speedup`` = loop / default and
``arch_only_grads_speedup`` = eager / loop split it into the two techniques.
The modes step in alternation on the same batches, and each ratio is the
median over steps of the two modes' times of the same step, so that changes
of the machine's speed during the run cancel (the medians of the times are
reported too and need not divide to the ratio).
Timings are for the machine it runs on; nothing here is a test.

More rows (with ``case`` set; the rows above have
``case="default_vs_eager"``):

- ``batched_seeds``: K seeds of NB-201 DARTS (first order) stepped together by
  ``harness.run.batched_seeds.BatchedDarts`` against one seed of the ``darts``
  optimizer, timed in alternation on the same batches so that load changes hit
  both alike: ``batched_k``, ``single_seconds_per_step``,
  ``batched_seconds_per_step`` and ``batched_over_single`` (K seeds batched /
  one seed; below K means batching saves time).
- ``eigen``: one cold dominant-eigenvalue evaluation (default Lanczos
  settings, 2 validation batches as the runner's default ``eigen_batches``)
  on the S1 DARTS-space supernet, timed by ``harness.metrics.curvature.benchmark``
  against the median search step of the same optimizer: ``eigen_seconds``,
  ``eigen_hvps``, ``eigen_step_seconds`` and ``eigen_in_steps`` (that
  function's clock: CPU time on a CPU, wall time on a GPU).
- ``data`` (this row and ``kernels`` are timed in ``harness.bench.micro``): the
  data side of one step (a training and a validation batch of CIFAR-shaped
  uint8 images drawn from a 2,000-image pool, NB-201's CIFAR augmentation): ``harness run``'s batches (pool held on the device, one
  gather, batched crop / flip / normalise on the device) against the
  reference pipeline's (pool in host memory, image by image pad, crop, flip,
  to float and normalise as torchvision's transforms do, stacked as the
  default collate does, then copied to the device): ``data_default_ms``,
  ``data_reference_ms`` and ``data_speedup``. Both draw the same random
  numbers and give the same batch (tested).
- ``options``: NB-201 DARTS's default step plain (fp32) against the same
  step with each of ``harness run``'s speed options, stepped in alternation:
  ``channels_last``, ``bf16`` (autocast) and, on a GPU, ``compile``
  (``reduce-overhead``: CUDA graphs): ``<option>_seconds_per_step`` and
  ``<option>_over_fp32`` (below 1: the option is faster).
- ``kernels``: two choices inside the fused NB-201 path, forward + backward
  in milliseconds at the first stage's shape (batch, C, 32 x 32; a source
  node with three outgoing edges): 3x3 average pooling by the native kernel
  against the box-sum depthwise conv (``pool_native_ms``, ``pool_box_ms``),
  the edges' 1x1 kernels padded into the 3x3 convolution against a
  separate 1x1 convolution (``conv_padded_ms``, ``conv_split_ms``), and that
  1x1 convolution (with bias) by ``F.conv2d`` against
  ``search_spaces.fusion.pointwise_conv2d``'s matrix product
  (``conv1x1_native_ms``, ``conv1x1_matmul_ms``); and the batch norm (batch statistics, the
  mixing weights as its scale) of the three edges' outputs by ``F.batch_norm`` against
  ``search_spaces.batch_norm.batch_norm_batch_stats`` (``bn_native_ms``, ``bn_rows_ms``).
"""

from __future__ import annotations

import contextlib
import json
import platform
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from harness.bench.micro import time_data, time_kernels, timed
from harness.optimizers import create_optimizer, make_config, supernet_overrides
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


def _supernet_config(case: BenchCase) -> SupernetConfig:
    """The case's supernet: CIFAR-shaped inputs (3 x 32 x 32), 10 classes."""
    return get_space(case.space).default_config().with_overrides(
        channels=case.channels, depth=case.depth, num_classes=10, in_channels=3, input_size=32,
        **supernet_overrides(case.optimizer))


def _batch(case: BenchCase, g: torch.Generator, device: torch.device, *lead: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random CIFAR-shaped batch ``(x [*lead, B, 3, 32, 32], y [*lead, B])``."""
    return (torch.randn(*lead, case.batch, 3, 32, 32, generator=g, device=device),
            torch.randint(0, 10, (*lead, case.batch), generator=g, device=device))


MODES = ("default", "loop", "eager")


def _make_optimizer(case: BenchCase, device: torch.device, steps: int, fused: bool = True,
                    prepare: Callable[[torch.nn.Module], None] | None = None):
    """Seed-0 optimizer of the case at epoch 0; None when the supernet has no eager path to switch to.

    ``prepare`` changes the supernet in place before the optimizer takes its parameters, as
    ``harness run`` does for ``--channels-last`` and ``--compile``.
    """
    space = get_space(case.space)
    torch.manual_seed(0)
    net = space.build_supernet(_supernet_config(case)).to(device)
    if hasattr(net, "set_fused"):
        net.set_fused(fused)
    elif not fused:
        return None
    if prepare is not None:
        prepare(net)
    opt = create_optimizer(case.optimizer, space, net, epochs=1, steps_per_epoch=steps, seed=0)
    opt.on_epoch_start(0)
    return opt


def time_case(case: BenchCase, device: torch.device, steps: int, warmup: int,
              modes: tuple[str, ...] = MODES) -> dict[str, dict]:
    """Median step time of ``case`` per mode (see the module docstring), modes timed in alternation.

    Every mode steps its own optimizer (same seed) on the same batches, one step each in turn,
    so a load change on the machine hits all modes alike. A mode whose supernet has no loop
    path is left out.
    """
    from harness.optimizers.parts.darts_grad import reference_gradients

    opts = {m: _make_optimizer(case, device, steps + warmup, fused=m == "default") for m in modes}
    opts = {m: o for m, o in opts.items() if o is not None}
    g = torch.Generator(device=device).manual_seed(0)
    times: dict[str, list[float]] = {m: [] for m in opts}
    for i in range(steps + warmup):
        tb, vb = _batch(case, g, device), _batch(case, g, device)
        for m, opt in opts.items():
            with reference_gradients(opt.supernet.parameters() if m == "eager" else ()):
                t = timed(lambda: opt.step(tb, vb), device)
            if i >= warmup:
                times[m].append(t)
    out = {}
    for m in opts:
        med = statistics.median(times[m])
        out[m] = {"seconds_per_step": med, "epoch_seconds_estimate": med * 390,
                  # paired with the default's time of the same step: drifts of the machine's speed cancel
                  "over_default": statistics.median(t / d for t, d in zip(times[m], times["default"])),
                  "over_loop": (statistics.median(t / d for t, d in zip(times[m], times["loop"]))
                                if "loop" in times else None)}
    if device.type == "cuda":  # peak memory of the default path alone
        del opts
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        opt = _make_optimizer(case, device, 2)
        for _ in range(2):
            opt.step(_batch(case, g, device), _batch(case, g, device))
        torch.cuda.synchronize(device)
        out["default"]["peak_memory_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        out["default"]["peak_memory_mib"] = None
    return out


def time_batched_seeds(case: BenchCase, device: torch.device, steps: int, warmup: int, k: int) -> dict:
    """K seeds batched vs one seed (same config), stepped alternately on the same data."""
    from harness.run.batched_seeds import BatchedDarts

    single = _make_optimizer(case, device, steps + warmup)
    batched = BatchedDarts(get_space(case.space), _supernet_config(case), list(range(k)), make_config(case.optimizer),
                           epochs=1, steps_per_epoch=steps + warmup, device=device)
    batched.on_epoch_start(0)
    g = torch.Generator(device=device).manual_seed(0)
    t_single, t_batched = [], []
    for i in range(steps + warmup):
        tb, vb = _batch(case, g, device, k), _batch(case, g, device, k)
        ts = timed(lambda: single.step((tb[0][0], tb[1][0]), (vb[0][0], vb[1][0])), device)
        tk = timed(lambda: batched.step(tb, vb), device)
        if i >= warmup:
            t_single.append(ts)
            t_batched.append(tk)
    s, b = statistics.median(t_single), statistics.median(t_batched)
    return {"batched_k": k, "single_seconds_per_step": s, "batched_seconds_per_step": b,
            "batched_over_single": b / s, "default_seconds_per_step": b, "default_epoch_seconds_estimate": b * 390}


def options_for(device: torch.device) -> tuple[str, ...]:
    """The ``options`` row's variants: ``compile`` only on a GPU (an inductor compile takes minutes on a CPU)."""
    return ("channels_last", "bf16", "compile") if device.type == "cuda" else ("channels_last", "bf16")


def time_options(case: BenchCase, device: torch.device, steps: int, warmup: int,
                 options: tuple[str, ...], compile_backend: str = "inductor") -> dict:
    """The default step plain (fp32) and with each of ``harness run``'s speed options, in alternation.

    Options: ``channels_last`` (``--channels-last``), ``bf16`` (``--precision bf16``: the step under
    bfloat16 autocast) and ``compile`` (``--compile reduce-overhead`` on a GPU, which captures CUDA
    graphs; ``default`` elsewhere). Compiling happens in the warm-up steps (at least 3, so that
    CUDA graphs are recorded before timing).
    """
    from harness.run.runner import compile_supernet, step_precision

    unknown = set(options) - {"channels_last", "bf16", "compile"}
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}")
    mode = "reduce-overhead" if device.type == "cuda" else "default"
    prepare = {"channels_last": lambda net: net.to(memory_format=torch.channels_last),
               "compile": lambda net: compile_supernet(net, mode, compile_backend)}
    warmup = max(warmup, 3) if "compile" in options else warmup
    opts = {"fp32": _make_optimizer(case, device, steps + warmup)}
    opts.update({o: _make_optimizer(case, device, steps + warmup, prepare=prepare.get(o)) for o in options})
    g = torch.Generator(device=device).manual_seed(0)
    times: dict[str, list[float]] = {o: [] for o in opts}
    warm: dict[str, float] = {o: 0.0 for o in opts}
    for i in range(steps + warmup):
        tb, vb = _batch(case, g, device), _batch(case, g, device)
        for o, opt in opts.items():
            ctx = step_precision(device, "bf16") if o == "bf16" else contextlib.nullcontext()
            with ctx:
                t = timed(lambda: opt.step(tb, vb), device)
            if i >= warmup:
                times[o].append(t)
            else:
                warm[o] += t
    out = {"options": list(options), "fp32_seconds_per_step": statistics.median(times["fp32"]),
           "warmup_steps": warmup, **{f"{o}_warmup_seconds": w for o, w in warm.items()}}
    for o in options:
        out[f"{o}_seconds_per_step"] = statistics.median(times[o])
        out[f"{o}_over_fp32"] = statistics.median(t / b for t, b in zip(times[o], times["fp32"]))
    if "compile" in options:
        out["compile_mode"] = mode
        # the compile (and CUDA-graph capture) happens in the warm-up steps: their extra time over fp32's
        out["compile_seconds"] = warm["compile"] - warm["fp32"]
    return out


def time_eigen(case: BenchCase, device: torch.device, steps: int, num_batches: int = 2) -> dict:
    """One cold dominant-eigenvalue evaluation in search steps, by ``harness.metrics.curvature.benchmark``."""
    from harness.bench.curvature import benchmark
    from harness.metrics.curvature import EigenConfig

    r = benchmark(case.space, case.optimizer, case.channels, case.depth, batch_size=case.batch, steps=steps,
                  evaluations=1, steps_between=0, config=EigenConfig(num_batches=num_batches), device=str(device))
    return {"eigen_seconds": r["cold_seconds"], "eigen_hvps": r["cold_hvps"], "eigen_in_steps": r["cold_steps"],
            "eigen_batches": num_batches, "eigen_step_seconds": r["step_seconds"]}


def select_cases(quick: bool, only: tuple[str, ...] = ()) -> list[BenchCase]:
    """The cases of ``cases(quick)`` named ``space/optimizer`` in ``only`` (all when empty).

    Raises:
        ValueError: a name that is no case, with the valid names.
    """
    all_cases = cases(quick)
    names = {f"{c.space}/{c.optimizer}": c for c in all_cases}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ValueError(f"unknown bench case(s) {unknown}; choose from {sorted(names)}")
    return [c for c in all_cases if not only or f"{c.space}/{c.optimizer}" in only]


def run_bench(device: str = "cpu", quick: bool = True, steps: int = 5, warmup: int = 2,
              out: str | Path | None = None, batched_k: int = 4, only: tuple[str, ...] = ()) -> list[dict]:
    """Every row of the module docstring; ``only`` (``space/optimizer`` names) restricts the
    ``default_vs_eager`` cases, and the other rows run with the case they are measured on
    (``batched_seeds``, ``data``, ``kernels``, ``options``: nb201/darts; ``eigen``: s1/darts)."""
    from harness.run.build import resolve_device

    dev = resolve_device(device)
    rows = []
    chosen = select_cases(quick, only)
    for case in chosen:
        t = time_case(case, dev, steps, warmup)
        row = {**asdict(case), "case": "default_vs_eager", "device": str(dev),
               **{f"default_{k}": v for k, v in t["default"].items()}}
        if "eager" in t:
            row.update(loop_seconds_per_step=t["loop"]["seconds_per_step"],
                       eager_seconds_per_step=t["eager"]["seconds_per_step"],
                       speedup_vs_eager=t["eager"]["over_default"], fused_speedup=t["loop"]["over_default"],
                       arch_only_grads_speedup=t["eager"]["over_loop"])
        rows.append(row)
    nb201 = next((c for c in chosen if c.space == "nb201" and c.optimizer == "darts"), None)
    if nb201 is not None:
        if batched_k > 0:
            rows.append({**asdict(nb201), "case": "batched_seeds", "device": str(dev),
                         **time_batched_seeds(nb201, dev, steps, warmup, batched_k)})
        rows.append({**asdict(nb201), "case": "data", "device": str(dev), **time_data(nb201, dev)})
        rows.append({**asdict(nb201), "case": "kernels", "device": str(dev), **time_kernels(nb201, dev)})
        rows.append({**asdict(nb201), "case": "options", "device": str(dev),
                     **time_options(nb201, dev, steps, warmup, options_for(dev))})
    s1 = next((c for c in chosen if c.space == "s1"), None)
    if s1 is not None:
        rows.append({**asdict(s1), "case": "eigen", "device": str(dev), **time_eigen(s1, dev, steps)})
    result = {"machine": platform.machine(), "torch": torch.__version__,
              "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor(),
              "quick": quick, "steps": steps, "rows": rows}
    if out is not None:
        Path(out).write_text(json.dumps(result, indent=2))
    return rows
