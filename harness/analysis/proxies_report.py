"""Spearman correlation of each zero-cost proxy with NB-201 CIFAR-10 test accuracy (computed, not asserted).

    python -m harness.analysis.proxies_report [--nb201 DIR] [--cifar NPZ] [--n 200] [--channels 8] [--depth 5]

A fixed sample of ``n`` NB-201 cells (numpy seed ``--seed``, without
replacement) is scored by every proxy on discrete networks of reduced width
(``--channels``, ``--depth``; the full NB-201 network is C=16, N=5), each
initialised from the same seed, with one batch of real CIFAR-10 training
images drawn with the same seed. Ground truth: the 200-epoch CIFAR-10 test
accuracy (mean over seeds) of the NB-201 table.

Keep the depth: with one cell per stage (``--depth 1``) the fixed stem,
reduction blocks and classifier dominate the networks, and the data-dependent
proxies (SNIP, GraSP) lose their correlation (measured on 50 of these cells:
SNIP -0.10 at C=8, N=1 against 0.56 at C=16, N=5).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import load_benchmark
from harness.data import DATASETS, normalize
from harness.metrics import proxies
from search_spaces import get_space
from search_spaces.io import atomic_write_json

_SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def cifar_batch(npz: str | Path, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` random training images ``[size, 3, 32, 32]`` from ``npz``, normalised with the harness's
    CIFAR-10 statistics, and their labels ``[size]``."""
    z = np.load(npz)
    idx = np.sort(rng.choice(len(z["y_train"]), size=size, replace=False))
    info = DATASETS["cifar10"]
    x = normalize(torch.from_numpy(np.ascontiguousarray(z["x_train"][idx])), info.mean, info.std)
    return x, torch.from_numpy(np.asarray(z["y_train"][idx], dtype=np.int64))


def run_report(nb201: str | Path, cifar: str | Path, n: int = 200, channels: int = 8, depth: int = 5,
               batch_size: int = 64, seed: int = 0, names: tuple[str, ...] = proxies.PROXIES,
               device: str = "cpu") -> dict:
    """Scores and Spearman correlations of ``names`` over a fixed sample; returns a JSON-able dict."""
    space = get_space("nb201")
    bench = load_benchmark("nb201", nb201)
    rng = np.random.default_rng(seed)
    archs = [space.from_index(int(i)) for i in rng.choice(space.size, size=n, replace=False)]
    truth = bench.query_many(archs, "cifar10", "test", "accuracy", 200, "mean")
    batch = cifar_batch(cifar, batch_size, rng)
    cfg = space.default_config().with_overrides(channels=channels, depth=depth, num_classes=10)
    out = {"n": n, "channels": channels, "depth": depth, "batch_size": batch_size, "seed": seed,
           "ground_truth": "nb201 cifar10/test/accuracy@200 (mean)", "proxies": {}}
    for name in names:
        t0 = time.perf_counter()
        rho, scores = proxies.proxy_correlation(space, archs, truth, name, batch, cfg, seed=seed, device=device)
        out["proxies"][name] = {"spearman": rho, "seconds": round(time.perf_counter() - t0, 1),
                                "best_pick_test_acc": float(truth[int(np.argmax(np.nan_to_num(scores, nan=-np.inf)))])}
    out["sample_best_test_acc"] = float(np.max(truth))
    out["sample_median_test_acc"] = float(np.median(truth))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m harness.analysis.proxies_report", description=__doc__.splitlines()[0])
    p.add_argument("--nb201", default=str(_SHARED / "nb201"), help="NB-201 table (CSV folder, .pth or NATS dir)")
    p.add_argument("--cifar", default=str(_SHARED / "cifar" / "cifar10_partial.npz"),
                   help="npz with x_train [N,3,32,32] uint8 and y_train")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--depth", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--proxies", default=",".join(proxies.PROXIES))
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, help="also write the result here")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    rep = run_report(a.nb201, a.cifar, a.n, a.channels, a.depth, a.batch_size, a.seed,
                     tuple(s for s in a.proxies.split(",") if s), a.device)
    rep["wall_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"NB-201, {rep['n']} archs, C={rep['channels']} N={rep['depth']}, batch {rep['batch_size']}, "
          f"seed {rep['seed']}; truth: {rep['ground_truth']}")
    print(f"{'proxy':<10}{'spearman':>10}{'pick acc':>10}{'seconds':>10}")
    for name, r in rep["proxies"].items():
        print(f"{name:<10}{r['spearman']:>10.3f}{r['best_pick_test_acc']:>10.2f}{r['seconds']:>10.1f}")
    print(f"sample best {rep['sample_best_test_acc']:.2f}, median {rep['sample_median_test_acc']:.2f}; "
          f"wall {rep['wall_seconds']:.1f} s")
    if a.json:
        atomic_write_json(a.json, rep)  # strict JSON, written atomically


if __name__ == "__main__":
    main()
