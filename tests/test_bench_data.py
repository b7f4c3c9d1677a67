"""``harness bench``'s per-image reference data step computes exactly the batched augmentation."""

from __future__ import annotations

import pytest
import torch

from harness.bench.micro import per_image_batch, time_data
from harness.bench.suite import BenchCase
from harness.data import AugmentSpec, augment_and_normalize

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


@pytest.mark.parametrize("spec", [AugmentSpec(4, True), AugmentSpec(1, False), AugmentSpec(0, True),
                                  AugmentSpec(0, False)])
def test_per_image_reference_equals_the_batched_augmentation(spec):
    pool = torch.randint(0, 256, (20, 3, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    idx = torch.tensor([3, 3, 0, 19, 7, 11])
    ref = per_image_batch(pool, idx, spec, torch.Generator().manual_seed(5), MEAN, STD)
    ours = augment_and_normalize(pool.index_select(0, idx), spec, torch.Generator().manual_seed(5), MEAN, STD)
    torch.testing.assert_close(ref, ours, rtol=1e-6, atol=1e-6)


def test_time_data_reports_both_pipelines():
    r = time_data(BenchCase("nb201", "darts", 4, 1, 8), torch.device("cpu"), reps=1, pool_size=16)
    assert r["data_default_ms"] > 0 and r["data_reference_ms"] > 0
    assert r["data_speedup"] == pytest.approx(r["data_reference_ms"] / r["data_default_ms"])
