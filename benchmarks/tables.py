"""Benchmarks backed by canonical table folders (``table.npz`` + ``metadata.json``).

- ``table``: any folder written by ``harness tabulate`` or an importer
  (pass it as ``--benchmark-file``); the space comes from its metadata.
- ``s5-digits``: the S5-on-digits table shipped in ``benchmarks/data/s5_digits``
  (81 architectures x 3 seeds, made by ``harness tabulate``; see docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import register_benchmark
from benchmarks.base import TabularBenchmark
from benchmarks.table import Table
from search_spaces.errors import BenchmarkError

SHIPPED = Path(__file__).with_name("data")


def load_table_dir(path: Path, name: str) -> TabularBenchmark:
    """A benchmark over the table in folder ``path``."""
    if not path.exists():
        raise BenchmarkError(f"benchmark {name!r}: {path} does not exist")
    if not path.is_dir():
        raise BenchmarkError(f"benchmark {name!r}: {path} is not a table folder (expected table.npz + metadata.json)")
    return TabularBenchmark(Table.load(path), name=name)


@register_benchmark("table", "(from metadata)", "any canonical table folder (harness tabulate output); needs --benchmark-file")
def load_table(file: Path | None) -> TabularBenchmark:
    if file is None:
        raise BenchmarkError("benchmark 'table' needs --benchmark-file pointing at a table folder")
    return load_table_dir(file, "table")


@register_benchmark("s5-digits", "s5", "S5 on scikit-learn digits, 81 archs x 3 seeds (shipped)")
def load_s5_digits(file: Path | None) -> TabularBenchmark:
    return load_table_dir(file or SHIPPED / "s5_digits", "s5-digits")
