"""The NAS evaluation harness: search runs on supernets, ground-truth regret, analyses and paper tables.

Rooms (each sub-package's docstring says what it may import; ``tests/test_layout.py`` keeps it so):
``data``, ``protocols``, ``references`` (lowest), ``metrics``, ``optimizers``, ``run``,
``analysis`` and ``reporting``, ``bench``, ``commands`` (CLI glue). The names most scripts
need are re-exported here; importing them loads torch lazily, on first use.
"""

from __future__ import annotations

import os
from typing import Any

# PyTorch's OpenMP threads spin-wait for their peers by default; on a shared CPU (a lab server, a cluster
# node, a loaded laptop) they burn the cycles of peers the OS has descheduled: 3-12x the CPU-seconds of a
# short search (docs/performance.md). libgomp reads the policy once, when torch loads it, so it is set here,
# before the first torch import of any harness entry point; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {"RunConfig": "harness.run.config", "SearchRun": "harness.run.runner",
            "load_runs": "harness.reporting.aggregate", "load_frame": "harness.reporting.aggregate"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # lazy, so ``import harness`` (and the CLI's start) stays cheap
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
