"""The embedded default: the shipped S5/digits table, and `harness run` with no arguments."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from benchmarks import load_benchmark
from benchmarks.table import Table
from search_spaces import get_space


@pytest.fixture(scope="module")
def s5():
    return load_benchmark("s5-digits")


def test_shipped_table_is_complete(s5):
    t = s5.table
    assert t.space == "s5" and len(t.archs) == 81 and t.seeds == ["0", "1", "2"]
    space = get_space("s5")
    assert t.archs == [space.to_str(a) for a in space.enumerate()]
    for split in ("train", "valid", "test"):
        acc = t.per_seed[t.keys()[0].__class__("digits", split, "accuracy", 10)]
        assert acc.shape == (81, 3) and np.isfinite(acc).all()
    meta = t.metadata
    assert meta["protocol"]["epochs"] == 10 and meta["sample"] is False


def test_optimum_and_regret_are_consistent(s5):
    opt = s5.optimum("digits", "test", "accuracy", 10, "mean")
    vals = s5.query_many([a for a in s5.table.archs], "digits", "test", "accuracy", 10, "mean")
    assert opt.value == pytest.approx(np.nanmax(vals))
    assert s5.regret(opt.arch, "digits", "test", "accuracy", 10, "mean") == 0.0
    worst = s5.table.archs[int(np.nanargmin(vals))]
    assert s5.regret(worst, "digits", "test", "accuracy", 10, "mean") == pytest.approx(opt.value - np.nanmin(vals))
    # real spread between architectures, so regret means something
    assert np.nanmax(vals) - np.nanmedian(vals) > 1.0 and np.nanmedian(vals) - np.nanmin(vals) > 10.0
    for s in (0, 1, 2):
        assert s5.query(opt.arch, "digits", "test", "accuracy", 10, s) > 50.0


def test_table_checksum_verified_on_load(tmp_path):
    import shutil

    from benchmarks.tables import SHIPPED

    shutil.copytree(SHIPPED / "s5_digits", tmp_path / "t", ignore=shutil.ignore_patterns("partial"))
    Table.load(tmp_path / "t")
    npz = tmp_path / "t" / "table.npz"
    data = npz.read_bytes()
    npz.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # flip the last byte
    from search_spaces.errors import BenchmarkError

    with pytest.raises(BenchmarkError, match="checksum"):
        Table.load(tmp_path / "t")


def test_harness_run_without_arguments(tmp_path):
    import os

    # no arguments; the epoch budget is reduced through the documented HARNESS_EPOCHS variable
    env = {**os.environ, "HARNESS_EPOCHS": "3"}
    r = subprocess.run([sys.executable, "-m", "harness", "run"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=900, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert "darts" in out and "rsws" in out and "test regret" in out and "+-" in out
    assert (tmp_path / "results" / "runs" / "regret_vs_epoch.png").is_file()
    runs = list((tmp_path / "results" / "runs").glob("*-s5-digits-seed*"))
    assert len(runs) == 6 and all((r / "final.json").is_file() for r in runs)
