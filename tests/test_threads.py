"""CPU threads (issue 36): the count comes from the CPUs this process may use (affinity, cgroup quota) or
``--threads``, is recorded in config.json, and what the thread count changes in a trajectory is measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.run import cpus

ROOT = Path(__file__).resolve().parents[1]


def _cgroup(tmp_path: Path, files: dict[str, str], self_line: str = "0::/job") -> tuple[Path, Path]:
    root = tmp_path / "cg"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    proc = tmp_path / "self_cgroup"
    proc.write_text(self_line + "\n")
    return root, proc


@pytest.mark.parametrize("files,expected", [
    ({"job/cpu.max": "150000 100000\n"}, 1.5),           # v2, the process's own cgroup (docker --cpus 1.5)
    ({"job/cpu.max": "max 100000\n"}, None),             # v2 without a limit
    ({"cpu.max": "200000 100000\n"}, 2.0),               # v2, only the root file readable
    ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3.0),  # v1
    ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),     # v1 unlimited
    ({}, None),
])
def test_cgroup_quota(tmp_path, files, expected):
    root, proc = _cgroup(tmp_path, files)
    assert cpus._cgroup_quota(root, proc) == expected


def test_quota_caps_the_thread_count(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv(cpus.THREADS_ENV, raising=False)
    monkeypatch.setattr(cpus, "_cgroup_quota", lambda: 0.5)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(64)))
    try:
        assert cpus.usable_cpus() == (1, "cgroup quota")
        got = cpus.configure_threads()
        assert got["threads"] == 1 and torch.get_num_threads() == 1
        assert got["threads_source"] == ("cgroup quota" if before > 1 else "torch default (physical cores)")
        monkeypatch.setenv(cpus.THREADS_ENV, "3")  # harness --threads 3 (inherited by workers)
        assert cpus.configure_threads() == {"threads": 3, "threads_source": "--threads", "usable_cpus": 1,
                                            "usable_cpus_by": "cgroup quota"}
        assert cpus.share(3, 2) == 1 and cpus.share(8, 3) == 2 and cpus.share(1, 4) == 1
    finally:
        torch.set_num_threads(before)
        cpus.THREADS.clear()


ARGS = ["run", "--optimizer", "darts", "--seeds", "0", "--epochs", "3", "--subset", "256", "--batch-size", "32",
        "--no-summary"]


def _run(tmp_path: Path, name: str, threads: int) -> Path:
    out = tmp_path / name
    r = subprocess.run([sys.executable, "-m", "harness", "--threads", str(threads), *ARGS, "--out", str(out)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-1500:]
    (d,) = [p for p in out.iterdir() if p.is_dir()]
    return d


def test_one_and_two_threads(tmp_path):
    """Same thread count: bit-identical trajectories. One vs two threads: the same data order, architectures
    drawn and first-epoch numbers up to float rounding (the maths sums in another order); later epochs may
    drift apart (docs/performance.md gives how far), so the count is recorded in config.json."""
    a, b, two = _run(tmp_path, "a", 1), _run(tmp_path, "b", 1), _run(tmp_path, "two", 2)
    ta, tb, t2 = (pd.read_csv(d / "trajectory.csv").drop(columns="wall_seconds") for d in (a, b, two))
    pd.testing.assert_frame_equal(ta, tb, check_exact=True)
    for d, n in ((a, 1), (two, 2)):
        cpu = json.loads((d / "config.json").read_text())["resolved"]["cpu"]
        assert cpu["threads"] == n and cpu["threads_source"] == "--threads"
    first = ["train_loss", "train_acc", "valid_loss", "valid_acc"]
    pd.testing.assert_frame_equal(ta.loc[:0, first], t2.loc[:0, first], rtol=1e-4, atol=1e-4)
    assert (ta["train_loss"] - t2["train_loss"]).abs().max() < 0.05  # drift, not a different run
