"""``harness bench``'s micro rows: the data side of a step (``data``) and kernel choices inside the
fused NB-201 path (``kernels``); what each row holds is in ``harness.bench.suite``'s docstring.
Timings are for the machine it runs on; nothing here is a test.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from harness.bench.suite import BenchCase


def timed(fn, device: torch.device) -> float:
    """Wall seconds of ``fn()``, with the device queue drained before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def per_image_batch(pool: torch.Tensor, idx: torch.Tensor, spec, generator: torch.Generator,
                    mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """The reference data step: images ``pool[idx]`` (uint8 ``[N, C, H, W]``) transformed one by one, stacked.

    Draws the random numbers ``harness.data.augment.augment`` draws, in its order, so the result
    equals ``augment_and_normalize(pool[idx], spec, generator, mean, std)`` -> ``[B, C, H, W]`` float32.
    """
    b, (h, w), p = len(idx), pool.shape[2:], spec.pad
    oy = torch.randint(0, 2 * p + 1, (b,), generator=generator).tolist() if p else [0] * b
    ox = torch.randint(0, 2 * p + 1, (b,), generator=generator).tolist() if p else [0] * b
    flip = (torch.rand(b, generator=generator) < 0.5).tolist() if spec.flip else [False] * b
    m, sd = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)
    out = []
    for i, j in enumerate(idx.tolist()):
        img = torch.nn.functional.pad(pool[j], (p, p, p, p))[:, oy[i]:oy[i] + h, ox[i]:ox[i] + w]
        if flip[i]:
            img = img.flip(-1)
        out.append((img.float() / 255.0 - m) / sd)
    return torch.stack(out)


def time_data(case: BenchCase, device: torch.device, reps: int = 10, pool_size: int = 2000) -> dict:
    """Median milliseconds of one step's two batches, ``harness run``'s way and the reference way (``data``)."""
    from harness.data import DATASETS, augment_and_normalize, augment_spec

    spec, info = augment_spec("cifar10"), DATASETS["cifar10"]
    g = torch.Generator().manual_seed(0)
    host = torch.randint(0, 256, (pool_size, 3, 32, 32), generator=g, dtype=torch.uint8)
    dev_pool = host.to(device)
    gen_dev = torch.Generator(device=device).manual_seed(0)

    def ours() -> None:
        for _ in range(2):
            idx = torch.randint(0, pool_size, (case.batch,), generator=gen_dev, device=device)
            augment_and_normalize(dev_pool.index_select(0, idx), spec, gen_dev, info.mean, info.std)

    def reference() -> None:
        for _ in range(2):
            idx = torch.randint(0, pool_size, (case.batch,), generator=g)
            per_image_batch(host, idx, spec, g, info.mean, info.std).to(device)

    out = {}
    for name, fn in (("data_default_ms", ours), ("data_reference_ms", reference)):
        times = [timed(fn, device) for _ in range(reps + 2)][2:]
        out[name] = 1e3 * statistics.median(times)
    out["data_speedup"] = out["data_reference_ms"] / out["data_default_ms"]
    return out


def time_kernels(case: BenchCase, device: torch.device, reps: int = 10) -> dict:
    """Median fwd + bwd milliseconds of the pooling, 1x1-kernel and BN choices (module docstring, ``kernels``)."""
    import torch.nn.functional as F

    from search_spaces.batch_norm import batch_norm_batch_stats
    from search_spaces.depthwise import avg_pool_3x3
    from search_spaces.fusion import pointwise_conv2d

    g = torch.Generator(device=device).manual_seed(0)
    c, edges = case.channels, 3
    x = torch.randn(case.batch, c, 32, 32, generator=g, device=device, requires_grad=True)
    w3 = torch.randn(edges * c, c, 3, 3, generator=g, device=device, requires_grad=True)
    w1 = torch.randn(edges * c, c, 1, 1, generator=g, device=device, requires_grad=True)
    b1 = torch.randn(edges * c, generator=g, device=device, requires_grad=True)
    # the three edges' 3x3 conv outputs and their mixing weights folded into BN's scale
    y3 = torch.randn(case.batch, edges * c, 32, 32, generator=g, device=device, requires_grad=True)
    s3 = torch.rand(edges * c, generator=g, device=device, requires_grad=True)

    def padded() -> torch.Tensor:
        return F.conv2d(x, torch.cat([w3, F.pad(w1, (1, 1, 1, 1))]), padding=1)

    def split() -> torch.Tensor:
        return torch.cat([F.conv2d(x, w3, padding=1), pointwise_conv2d(x, w1)], dim=1)

    fns = {"pool_native_ms": lambda: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
           "pool_box_ms": lambda: avg_pool_3x3(x), "conv_padded_ms": padded, "conv_split_ms": split,
           # NB-201's search convs carry a bias (BN without affine parameters)
           "conv1x1_native_ms": lambda: F.conv2d(x, w1, b1), "conv1x1_matmul_ms": lambda: pointwise_conv2d(x, w1, b1),
           "bn_native_ms": lambda: F.batch_norm(y3, None, None, s3, None, True, 0.0, 1e-5),
           "bn_rows_ms": lambda: batch_norm_batch_stats(y3, s3)}
    out = {}
    for name, fn in fns.items():
        # a dense output gradient, as in a step (``.sum()``'s is a broadcast view, which some kernels copy)
        gy = torch.randn(fn().shape, generator=g, device=device)
        times = [timed(lambda: fn().backward(gy), device) for _ in range(reps + 2)][2:]
        out[name] = 1e3 * statistics.median(times)
    return out
