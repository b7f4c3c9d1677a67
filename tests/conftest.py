"""Shared fixtures: the real reduced data in ../shared/data, small CPU settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The project's tests see the built-in optimizers, spaces and benchmarks only: a user's installed plug-ins
# (entry points) or HARNESS_PLUGINS must not change them. Tests of plug-ins install their own.
os.environ["HARNESS_ENTRY_POINTS"] = "0"
os.environ.pop("HARNESS_PLUGINS", None)
for _v in ("HARNESS_THREADS", "HARNESS_LOG_FILE", "HARNESS_QUIET"):
    os.environ.pop(_v, None)

import harness  # noqa: F401, E402  (first: it sets OMP_WAIT_POLICY before torch loads libgomp)
import torch  # noqa: E402

from harness.data.convert import write_cifar10_batches

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HARNESS_SHARED_DATA", ROOT.parent / "shared" / "data"))

# Two slow cores: one thread per test process keeps timings stable and avoids
# oversubscription when several suites run at once.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real reduced benchmark data); skips when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real reference data not found at {SHARED} (set HARNESS_SHARED_DATA)")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own benchmark cache so nothing leaks into ~/.cache, and no CLI call of an earlier
    test leaves its --threads / --log-file / -q choice (or plug-ins) for the next."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path_factory.mktemp("cache")))
    for v in ("HARNESS_THREADS", "HARNESS_LOG_FILE", "HARNESS_QUIET", "HARNESS_PLUGINS"):
        monkeypatch.delenv(v, raising=False)




@pytest.fixture(scope="session")
def cifar10_dir(shared_data, tmp_path_factory) -> Path:
    """A small CIFAR-10 folder in the official python-batch format, made of real images."""
    return write_cifar10_batches(shared_data / "cifar" / "cifar10_partial.npz", tmp_path_factory.mktemp("cifar"))
