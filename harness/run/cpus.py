"""How many CPU threads a run uses: the CPUs this process may use, a user's choice, shared between workers.

PyTorch sizes its intra-op pool from the machine's cores; it does not see a
cgroup CPU quota (what ``docker --cpus``, Kubernetes limits and some SLURM
setups impose), so in a 2-CPU container on a 64-core node it starts 32+
threads that fight over 2 CPUs. Here the count is the smallest of: torch's
default, this process's CPU affinity (``taskset``, SLURM's ``--cpus-per-task``
binding) and the cgroup quota (rounded up). ``--threads`` or
``OMP_NUM_THREADS`` set by the user win. Sweep workers split the count
between them (``share``).

Floating-point sums are split across threads, so a run's trajectory depends
on its thread count (bit-identical for the same count on the same CPU; see
docs/performance.md for how far runs with 1 and 2 threads drift apart). The
count is recorded in every run's ``config.json`` (``resolved.cpu``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

#: Set by ``harness --threads N`` so that worker processes (joblib, Ray) inherit the choice.
THREADS_ENV = "HARNESS_THREADS"
#: What ``configure_threads`` decided in this process (recorded in each run's config.json).
THREADS: dict[str, Any] = {}


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs allowed by this process's cgroup quota (v2 ``cpu.max`` or v1 CFS quota); None when unlimited."""
    rel = ""
    try:
        for line in proc.read_text().splitlines():
            parts = line.split(":", 2)
            if len(parts) == 3 and parts[0] == "0":  # cgroup v2 unified hierarchy
                rel = parts[2].lstrip("/")
    except OSError:
        pass
    for d in ([root / rel, root] if rel else [root]):
        try:
            quota, period = (d / "cpu.max").read_text().split()[:2]
        except (OSError, ValueError):
            continue
        return None if quota == "max" else int(quota) / int(period)
    try:  # cgroup v1
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def usable_cpus() -> tuple[int, str]:
    """``(count, what limits it)``: the CPUs this process may run on (affinity) capped by the cgroup quota."""
    try:
        n, why = len(os.sched_getaffinity(0)), "affinity"
    except (AttributeError, OSError):
        n, why = os.cpu_count() or 1, "cpu count"
    quota = _cgroup_quota()
    if quota is not None and math.ceil(quota) < n:
        n, why = max(1, math.ceil(quota)), "cgroup quota"
    return n, why


def configure_threads(requested: int | None = None, source: str = "--threads") -> dict[str, Any]:
    """Set torch's intra-op threads for this process and return what was decided (also in ``THREADS``);
    ``source`` names what chose ``requested``."""
    import torch

    default = torch.get_num_threads()
    usable, why = usable_cpus()
    env = os.environ.get(THREADS_ENV, "").strip()
    if requested is None and env.isdigit() and int(env) >= 1:
        requested, source = int(env), "--threads"
    if requested is not None:
        n = requested
    elif os.environ.get("OMP_NUM_THREADS", "").strip():
        n, source = default, "OMP_NUM_THREADS"
    elif usable < default:
        n, source = usable, why
    else:
        n, source = default, "torch default (physical cores)"
    if n != default:
        torch.set_num_threads(n)
    THREADS.clear()
    THREADS.update({"threads": int(n), "threads_source": source, "usable_cpus": usable, "usable_cpus_by": why})
    return dict(THREADS)


def ensure_threads() -> dict[str, Any]:
    """``configure_threads()`` once per process (a run calls it; a later call returns the first decision)."""
    return dict(THREADS) if THREADS else configure_threads()


def set_worker_threads(n: int) -> None:
    """A sweep worker's threads: the parent's ``--threads``, or its share of the parent's count."""
    pinned = os.environ.get(THREADS_ENV, "").strip() == str(n)
    configure_threads(n, "--threads" if pinned else "sweep worker's share")


def share(threads: int, workers: int) -> int:
    """Threads per worker when ``workers`` processes share ``threads`` (at least one each)."""
    return max(1, threads // max(1, workers))
