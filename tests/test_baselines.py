"""Random search without weight sharing, on the real NB-201 table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import load_benchmark
from harness.run.baselines import RandomBaselineConfig, run_random_baseline


def test_random_baseline_picks_best_valid(shared_data, tmp_path):
    cfg = RandomBaselineConfig(benchmark="nb201", benchmark_file=str(shared_data / "nb201"), dataset="cifar10",
                               n=30, select_epochs=12, test_epochs=200, seed=4)
    final = run_random_baseline(cfg, tmp_path)
    t = pd.read_csv(tmp_path / cfg.run_id() / "trajectory.csv")
    assert len(t) == 30 and np.all(np.diff(t["gt_valid_acc"]) >= 0)
    b = load_benchmark("nb201", shared_data / "nb201")
    space = b.space
    rng = np.random.default_rng(4)
    archs = [space.sample(rng) for _ in range(30)]
    v = b.query_many(archs, "cifar10", "valid", "accuracy", 12, "mean")
    assert final["arch"] == space.to_str(archs[int(np.argmax(v))])
    assert final["test_regret"] == pytest.approx(94.37333 - final["gt_test_acc"], abs=1e-3)
    assert run_random_baseline(cfg, tmp_path) == final  # finished runs are returned, not redone
