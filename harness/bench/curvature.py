"""The cost of one dominant-eigenvalue evaluation, in search steps (``python -m harness.bench.curvature``).

Timings are for the machine it runs on; nothing here is a test.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import time

import torch

from harness.metrics.curvature import (GRAPH_OPS, Batch, CurvatureTracker, EigenConfig, arch_hessian_operator,
                                       deterministic_supernet, dominant_eigenvalue)


def benchmark(space: str = "s1", optimizer: str = "darts-2nd", channels: int = 16, depth: int = 8,
              input_size: int = 32, batch_size: int = 64, steps: int = 5, evaluations: int = 5,
              steps_between: int = 2, config: EigenConfig = EigenConfig(), device: str = "cpu",
              seed: int = 0) -> dict[str, float]:
    """Time one eigenvalue evaluation in units of one search step of ``optimizer``.

    Random CIFAR-shaped data; the supernet is first trained for ``steps``
    timed steps, then ``evaluations`` evaluations are timed, each after
    ``steps_between`` more timed steps (so warm starts see a drifted Hessian).
    The step time is the median over all timed steps. One short untimed
    evaluation first sets up the double-backward kernels (once per process).
    """
    from harness.optimizers import create_optimizer, supernet_overrides
    from search_spaces import get_space

    torch.manual_seed(seed)
    dev = torch.device(device)
    sp = get_space(space)
    cfg = sp.default_config().with_overrides(channels=channels, depth=depth, input_size=input_size, in_channels=3,
                                             num_classes=10, **supernet_overrides(optimizer))
    net = sp.build_supernet(cfg).to(dev)
    opt = create_optimizer(optimizer, sp, net, epochs=50, steps_per_epoch=100, seed=seed)
    opt.on_epoch_start(0)

    def batch() -> Batch:
        return (torch.randn(batch_size, 3, input_size, input_size, device=dev),
                torch.randint(0, 10, (batch_size,), device=dev))

    def clock() -> float:
        # CUDA: wall time of finished kernels; CPU: this process's CPU time, robust to other jobs on shared cores
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            return time.perf_counter()
        return time.process_time()

    valid = [batch() for _ in range(config.num_batches)]
    opt.step(batch(), batch())  # warm-up (allocator, kernels)
    step_times: list[float] = []

    def timed_step() -> None:
        t0 = clock()
        opt.step(batch(), batch())
        step_times.append(clock() - t0)

    for _ in range(steps):
        timed_step()
    # untimed, like the warm-up step: the first double backward of a process sets up its kernels and
    # buffers once (round 0 of ``compare_graph_ops``), which a search pays once, not per evaluation
    dominant_eigenvalue(opt, valid, dataclasses.replace(config, max_iter=2))
    tracker, runs = CurvatureTracker(config), []  # runs[0] starts cold (random vector), the others warm
    for _ in range(evaluations):
        for _ in range(steps_between):
            timed_step()
        t0 = clock()
        res = tracker.evaluate(opt, valid)
        runs.append((clock() - t0, res.hvps))
    # every step is timed, also those between evaluations, so a drift of the machine's speed hits both
    step_s = statistics.median(step_times)
    warm = runs[1:] or runs
    warm_s, warm_h = (sum(r[i] for r in warm) / len(warm) for i in (0, 1))
    n = sum(p.numel() for p in opt.arch_parameters().values())
    return {"space": space, "optimizer": optimizer, "arch_params": n, "step_seconds": step_s, "cold_seconds": runs[0][0], "cold_hvps": runs[0][1], "warm_seconds": warm_s,
            "warm_hvps": warm_h, "cold_steps": runs[0][0] / step_s, "warm_steps": warm_s / step_s}


def compare_graph_ops(space: str = "s3", channels: int = 16, depth: int = 8, batch_size: int = 64,
                      repeats: int = 3, products: int = 3, seed: int = 0) -> list[dict[str, float]]:
    """CPU seconds of building the product graph and of one product (median of ``products``) for each
    of ``GRAPH_OPS``, alternating ``repeats`` times in one process (the first round also pays the
    process's one-time set-up); and each product's relative difference from PyTorch's float32 product
    of the same round (``difference``) and from a float64 product (``from_float64``, PyTorch's ops on
    a float64 copy of the supernet), which shows how much of the difference is float32 rounding."""
    from harness.optimizers import create_optimizer, supernet_overrides
    from search_spaces import get_space

    torch.manual_seed(seed)
    sp = get_space(space)
    cfg = sp.default_config().with_overrides(channels=channels, depth=depth, input_size=32, in_channels=3,
                                             num_classes=10, **supernet_overrides("darts-2nd"))
    opt = create_optimizer("darts-2nd", sp, sp.build_supernet(cfg), epochs=1, steps_per_epoch=1, seed=seed)
    batch = (torch.randn(batch_size, 3, 32, 32), torch.randint(0, 10, (batch_size,)))
    n = sum(p.numel() for p in opt.arch_parameters().values())
    v = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    exact = copy.deepcopy(opt)
    exact.supernet.double()
    for a in exact.arch_parameters().values():
        a.data = a.data.double()
    with deterministic_supernet(exact.supernet):
        ref64 = arch_hessian_operator(exact, [(batch[0].double(), batch[1])], graph_ops="pytorch")[1](v)
    del exact
    out, reference = [], {}
    for r in range(repeats):
        for ops in reversed(GRAPH_OPS):  # PyTorch's first: the reference product
            with deterministic_supernet(opt.supernet):
                t0 = time.process_time()
                _, hvp = arch_hessian_operator(opt, [batch], graph_ops=ops)
                graph = time.process_time() - t0
                times = []
                for _ in range(products):
                    t0 = time.process_time()
                    hv = hvp(v)
                    times.append(time.process_time() - t0)
            ref = reference.setdefault(r, hv)
            out.append({"round": r, "graph_ops": ops, "graph_seconds": graph,
                        "product_seconds": statistics.median(times),
                        "difference": float((hv - ref).norm() / ref.norm()),
                        "from_float64": float((hv - ref64).norm() / ref64.norm())})
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m harness.bench.curvature``: print the cost of one evaluation in search steps."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("space", "s1"), ("optimizer", "darts-2nd"), ("method", "lanczos"), ("device", "cpu")):
        p.add_argument(f"--{name}", default=default)
    for name, default in (("channels", 16), ("depth", 8), ("input-size", 32), ("batch-size", 64), ("steps", 5),
                          ("evaluations", 5), ("num-batches", 1)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--tol", type=float, default=1e-2)
    p.add_argument("--compare-graph-ops", action="store_true",
                   help="instead: product and graph cost with each form of batch norm and ReLU (GRAPH_OPS)")
    a = p.parse_args(argv)
    if a.compare_graph_ops:
        for row in compare_graph_ops(a.space, a.channels, a.depth, a.batch_size):
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        return
    r = benchmark(a.space, a.optimizer, a.channels, a.depth, a.input_size, a.batch_size, a.steps, a.evaluations,
                  config=EigenConfig(method=a.method, tol=a.tol, num_batches=a.num_batches), device=a.device)
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
