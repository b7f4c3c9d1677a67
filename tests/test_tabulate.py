"""Tabulation: a 3-architecture slice writes a valid table; kill + resume gives the same table."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import load_benchmark
from benchmarks.table import Table
from harness.run.tabulate import TabulateConfig, architectures, tabulate
from search_spaces.errors import ConfigError

CFG = TabulateConfig(space="s5", dataset="digits", seeds=(0, 1), epochs=1, eval_epochs=(1,), subset=128,
                     channels=4, limit=(0, 3))


def test_slice_table_and_resume(tmp_path):
    t = tabulate(CFG, tmp_path / "a", jobs=1, progress=False)
    assert len(t.archs) == 3 and t.seeds == ["0", "1"]
    acc = t.column(t.keys()[0].__class__("digits", "test", "accuracy", 1), 0)
    assert np.isfinite(acc).all()
    bench = load_benchmark("table", tmp_path / "a")
    opt = bench.optimum("digits", "test", "accuracy", 1, "mean")
    assert bench.regret(opt.arch, "digits", "test", "accuracy", 1, "mean") == 0
    meta = Table.load(tmp_path / "a").metadata
    assert meta["protocol"]["epochs"] == 1 and meta["sample"] is False and "hardware" in meta

    # "kill" after two pairs: keep only their partial files, then resume
    import shutil

    shutil.copytree(tmp_path / "a" / "partial", tmp_path / "b" / "partial")
    for f in sorted((tmp_path / "b" / "partial").iterdir())[2:]:
        f.unlink()
    t2 = tabulate(CFG, tmp_path / "b", jobs=1, progress=False)
    for k in t.keys():
        if k.metric == "time":
            continue
        np.testing.assert_array_equal(t.per_seed[k], t2.per_seed[k])


def test_refuses_too_large_space_without_sample():
    with pytest.raises(ConfigError, match="15,625 architectures"):
        architectures(TabulateConfig(space="nb201", max_archs=1000))
    archs, sampled = architectures(TabulateConfig(space="nb201", sample=5, max_archs=1000))
    assert len(archs) == 5 and sampled


def test_other_protocol_in_same_folder_refused(tmp_path):
    tabulate(CFG, tmp_path, progress=False)
    with pytest.raises(ConfigError, match="another protocol"):
        tabulate(TabulateConfig(**{**CFG.__dict__, "lr": 0.5}), tmp_path, progress=False)
