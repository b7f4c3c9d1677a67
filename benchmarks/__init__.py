"""Ground-truth oracles: importers into one canonical table, and queries.

Benchmarks register a loader ``(file: Path | None) -> Benchmark`` in
``BENCHMARKS``; ``load_benchmark(name, file)`` calls it. May import
``search_spaces``, never ``harness``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchmarks.base import Benchmark, Optimum, TabularBenchmark
from benchmarks.table import MetricKey, Table, cache_root
from search_spaces.errors import BenchmarkError
from search_spaces.registry import Registry

#: Modules whose import registers the built-in benchmarks.
_BUILTIN: list[str] = ["benchmarks.tables", "benchmarks.nb201", "benchmarks.nb1shot1"]
#: name -> (loader, space name, one-line description); plug-ins register with ``register_benchmark``
BENCHMARKS: Registry[tuple[Callable[[Path | None], Benchmark], str, str]] = Registry(
    "benchmark", _BUILTIN, "nas_harness.benchmarks")


def register_benchmark(name: str, space: str, description: str):
    """Decorator registering ``loader(file) -> Benchmark`` under ``name``."""

    def deco(loader: Callable[[Path | None], Benchmark]):
        BENCHMARKS.register(name, (loader, space, description), source=loader.__module__)
        return loader

    return deco


def load_benchmark(name: str, file: str | Path | None = None) -> Benchmark:
    """Load benchmark ``name`` from ``file`` (official raw file, or None for a shipped table)."""
    loader, _, _ = BENCHMARKS.get(name)
    if file is None:
        return loader(None)
    path = Path(file).expanduser()
    # a FIFO would block the read forever and a device file would never end: only files and folders
    if path.exists() and not (path.is_file() or path.is_dir()):
        raise BenchmarkError(f"{path} is not a regular file or folder (a pipe or device?); give the benchmark file")
    return loader(path)


def list_benchmarks() -> list[tuple[str, str, str]]:
    """``(name, space, description)`` of every registered benchmark."""
    return [(n, *BENCHMARKS.get(n)[1:]) for n in BENCHMARKS.names()]


__all__ = ["BENCHMARKS", "Benchmark", "MetricKey", "Optimum", "TabularBenchmark", "Table",
           "cache_root", "list_benchmarks", "load_benchmark", "register_benchmark"]
