"""The NAS evaluation harness: search runs on supernets, ground-truth regret, analyses and paper tables.

Rooms (each sub-package's docstring says what it may import; ``tests/test_layout.py`` keeps it so):
``data``, ``protocols``, ``references`` (lowest), ``metrics``, ``optimizers``, ``run``,
``analysis`` and ``reporting``, ``bench``, ``commands`` (CLI glue). The names most scripts
need are re-exported here; importing them loads torch lazily, on first use.
"""

from __future__ import annotations

import os
from typing import Any


def openmp_wait_policy(cpus: int, load: float) -> dict[str, str]:
    """How PyTorch's OpenMP threads should wait, given the usable CPUs and the other processes running now.

    libgomp's threads spin-wait for their peers (300,000 spins by default); on a busy CPU they burn the
    cycles of peers the OS has descheduled (about 3-4x the CPU-seconds of a short search beside two busy
    processes, docs/performance.md). Already busy (other runnable processes >= cpus - 0.5): ``PASSIVE`` (sleep
    at once). Otherwise
    a short spin (``GOMP_SPINCOUNT`` 10,000), as fast as the default on a quiet machine and a bounded burn if
    load arrives later.
    """
    if load >= cpus - 0.5:
        return {"OMP_WAIT_POLICY": "PASSIVE"}
    return {"GOMP_SPINCOUNT": "10000"}


def _set_wait_policy() -> None:
    # libgomp reads these once, when torch loads it: set before the first torch import of any harness entry
    # point. A value the user set (either variable, even empty) wins.
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this platform
        return
    os.environ.update(openmp_wait_policy(cpus, _others_running()))


def _others_running(samples: int = 5) -> float:
    """Processes runnable right now besides this one (``/proc/loadavg``'s running count, averaged over a few
    samples 10 ms apart): unlike the 1-minute load average it does not count a run that just ended."""
    import time

    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg") as f:
                counts.append(int(f.read().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        if i + 1 < samples:
            time.sleep(0.01)
    return sum(counts) / len(counts)


_set_wait_policy()

_EXPORTS = {"RunConfig": "harness.run.config", "SearchRun": "harness.run.runner",
            "load_runs": "harness.reporting.aggregate", "load_frame": "harness.reporting.aggregate"}

__all__ = sorted(_EXPORTS)


def __dir__() -> list[str]:
    # the lazily exported names are part of the public API: show them (tab completion, dir(harness))
    return sorted(set(globals()) | set(_EXPORTS))


def __getattr__(name: str) -> Any:
    # lazy, so ``import harness`` (and the CLI's start) stays cheap
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
