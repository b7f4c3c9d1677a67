"""Baselines without weight sharing, written in the run format of ``runner``.

``random``: sample ``n`` architectures uniformly (seeded) and, after each
sample, pick the best so far by ground-truth **validation** accuracy at
``select_epochs``; report the pick's **test** accuracy and regret at the
benchmark budget. The trajectory has one row per sample (``epoch`` = number of
samples - 1), so it plots against search runs as anytime regret.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import load_benchmark
from search_spaces.errors import ConfigError
from search_spaces.io import atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class RandomBaselineConfig:
    """Random search over the space, selected by the table's validation accuracy."""

    benchmark: str = "s5-digits"
    benchmark_file: str | None = None
    dataset: str = "digits"
    n: int = 100
    select_epochs: int | None = None
    test_epochs: int | None = None
    benchmark_seed: str = "mean"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}")

    def run_id(self) -> str:
        import hashlib
        import json

        body = {k: v for k, v in asdict(self).items() if k != "seed"}
        h = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
        return f"random-{self.benchmark}-{self.dataset}-seed{self.seed}-{h}"


def run_random_baseline(cfg: RandomBaselineConfig, out_root: str | Path) -> dict[str, Any]:
    """Run (or return the finished) random baseline ``cfg`` under ``out_root``."""
    import json

    d = Path(out_root) / cfg.run_id()
    if (d / "final.json").is_file():
        return json.loads((d / "final.json").read_text())
    bench = load_benchmark(cfg.benchmark, cfg.benchmark_file)
    space = bench.space
    accs = [k for k in bench.available() if k.dataset == cfg.dataset and k.metric == "accuracy"]
    if not accs:
        raise ConfigError(f"benchmark {cfg.benchmark!r} has no accuracy for dataset {cfg.dataset!r}")
    test_ep = cfg.test_epochs or max(k.epochs for k in accs if k.split == "test")
    sel_ep = cfg.select_epochs or max(k.epochs for k in accs if k.split == "valid")
    seed: str | int = int(cfg.benchmark_seed) if cfg.benchmark_seed.isdigit() else cfg.benchmark_seed
    rng = np.random.default_rng(cfg.seed)
    archs = [space.sample(rng) for _ in range(cfg.n)]
    valid = bench.query_many(archs, cfg.dataset, "valid", "accuracy", sel_ep, seed)
    optimum = bench.optimum(cfg.dataset, "test", "accuracy", test_ep, seed).value
    rows, best = [], -1
    for i in range(cfg.n):
        if best < 0 or (not math.isnan(valid[i]) and valid[i] > valid[best]):
            best = i
        test = bench.query(archs[best], cfg.dataset, "test", "accuracy", test_ep, seed)
        rows.append({"epoch": i, "wall_seconds": 0.0, "arch": space.to_str(archs[best]),
                     "gt_valid_acc": float(valid[best]), "gt_test_acc": test, "test_regret": optimum - test})
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_json(d / "config.json", {
        "run_id": cfg.run_id(), "run": {**asdict(cfg), "optimizer": "random", "space": space.name},
        "resolved": {"ground_truth": {"benchmark": cfg.benchmark, "dataset": cfg.dataset, "select": f"valid@{sel_ep}",
                                      "report": f"test@{test_ep}", "seed": seed, "test_optimum": optimum}}})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(d / "trajectory.csv", buf.getvalue())
    final = {"run_id": cfg.run_id(), "status": "finished", "reason": None, "epochs_completed": cfg.n,
             "arch": rows[-1]["arch"], "gt_valid_acc": rows[-1]["gt_valid_acc"], "gt_test_acc": rows[-1]["gt_test_acc"],
             "test_regret": rows[-1]["test_regret"]}
    atomic_write_json(d / "final.json", final)
    return json.loads((d / "final.json").read_text())
