"""Loading NB-201 from any accepted source, converting it once into the cache.

A source is identified by the sha256 of its content (for a directory: of its
data files' names and contents). The canonical table lives in
``cache_root()/nb201-<sha256[:16]>/`` and is checksum-verified on every load.
Hashing a multi-GB ``.pth`` on every load would dominate the load time, so
``cache_root()/nb201-sources.json`` remembers the digest of each source by
(path, size, mtime); a source edited in place with both unchanged would be
missed, as in any build tool.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks import register_benchmark
from benchmarks.base import TabularBenchmark
from benchmarks.nb201.csv_import import import_csv, merge_tables
from benchmarks.nb201.official import dir_digest, import_nats_dir, import_pth, nats_files
from benchmarks.table import Table, cache_root, sha256_file
from search_spaces import Architecture
from search_spaces.errors import BenchmarkError
from search_spaces.io import atomic_write_json

log = logging.getLogger(__name__)

ACCEPTED = ("an official NAS-Bench-201-v1_0-e61699.pth / v1_1-096897.pth file, a NATS-Bench "
            "NATS-tss-v1_0-3ffb9-simple directory (or the single NATS-tss-v1_0-3ffb9.pickle.pbz2), "
            "an NB-201 CSV, or a directory of NB-201 CSVs")
#: Bump when the conversion changes, so old caches are rebuilt instead of reused.
CONVERTER_VERSION = 2
_INDEX = "nb201-sources.json"


class NB201Benchmark(TabularBenchmark):
    """``TabularBenchmark`` that memoises column and architecture lookups (the table never changes)."""

    def __init__(self, table: Table, name: str | None = None) -> None:
        super().__init__(table, name)
        self._columns: dict[tuple, np.ndarray] = {}
        self._arch_rows: dict[Architecture, int] = {}
        self._index_rows: np.ndarray | None = None

    def _column(self, dataset: str, split: str, metric: str, epochs: int, seed: str | int) -> np.ndarray:
        # The base class sorts every key and, for seed means, averages the column on each call.
        ck = (dataset, split, metric, int(epochs), seed if seed == "mean" else str(seed))
        col = self._columns.get(ck)
        if col is None:
            col = self._columns[ck] = super()._column(dataset, split, metric, epochs, seed)
        return col

    def _row(self, arch: Architecture | str | int) -> int:
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            arch = self.space.from_index(int(arch))  # the official index, as `harness query --arch` takes it
        if isinstance(arch, str):
            r = self.table.row(arch)  # the table holds canonical strings: an exact hit needs no parsing
            return r if r is not None else super()._row(arch)
        r = self._arch_rows.get(arch)
        if r is None:
            if self._index_rows is None:
                self._index_rows = self._rows_by_index()
            r = int(self._index_rows[self.space.index(arch)])  # index() also validates the architecture
            r = self._arch_rows[arch] = r if r >= 0 else super()._row(arch)  # super raises "not in the table"
        return r

    def _rows_by_index(self) -> np.ndarray:
        """Table row of each official index (-1: not in the table)."""
        archs, space = self.table.archs, self.space
        if len(archs) == space.size and all(archs[i] == space.to_str(space.from_index(i))
                                            for i in (0, 1, len(archs) // 2, len(archs) - 1)):
            return np.arange(len(archs))  # the importers write full tables in official index order
        rows = np.full(space.size, -1, dtype=np.int64)
        for r, a in enumerate(archs):
            rows[space.from_str(a).index] = r
        return rows


def _nats_root(path: Path) -> Path | None:
    if (path / "meta.pickle.pbz2").is_file():
        return path
    # the official tar unpacks into a folder of the same name; accept its parent too
    inner = [d for d in path.iterdir() if d.is_dir() and (d / "meta.pickle.pbz2").is_file()]
    return inner[0] if len(inner) == 1 else None


def source_files(path: Path) -> tuple[str, list[Path]]:
    """The kind of source at ``path`` and the files that make it up."""
    if path.is_dir():
        root = _nats_root(path)
        if root is not None:
            return "nats-dir", [root / "meta.pickle.pbz2", *nats_files(root).values()]
        csvs = sorted(path.glob("*.csv"))
        if csvs:
            return "csv-dir", csvs
        raise BenchmarkError(f"{path}: no NB-201 data in this directory (no meta.pickle.pbz2, no *.csv; "
                             f"accepted: {ACCEPTED})")
    return ("csv" if path.suffix.lower() == ".csv" else "official"), [path]


def convert(path: Path) -> Table:
    """Convert any accepted source into one canonical table (no caching)."""
    kind, files = source_files(path)
    if kind == "nats-dir":
        return import_nats_dir(files[0].parent)
    if kind == "csv-dir":
        return merge_tables([import_csv(f) for f in files])
    if kind == "csv":
        return import_csv(path)
    return import_pth(path)


def _fingerprint(path: Path, files: Sequence[Path]) -> str:
    h = hashlib.sha256(str(path.resolve()).encode())
    for f in sorted(files):
        st = f.stat()
        h.update(f"\n{f.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()


def source_digest(path: Path) -> str:
    """Content sha256 of a source, remembered by (path, size, mtime) in the cache index."""
    kind, files = source_files(path)
    index_p = cache_root() / _INDEX
    try:
        index = json.loads(index_p.read_text())
    except (OSError, ValueError):
        index = {}  # a missing or damaged index only costs a re-hash
    fp = _fingerprint(path, files)
    if isinstance(index, dict) and isinstance(index.get(fp), str):
        return index[fp]
    digest = sha256_file(path) if kind in ("csv", "official") else dir_digest(files)
    index = index if isinstance(index, dict) else {}
    index[fp] = digest
    index_p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(index_p, index)
    return digest


def cache_dir(path: Path) -> Path:
    """Cache folder of the source at ``path``."""
    return cache_root() / f"nb201-{source_digest(path)[:16]}"


@register_benchmark("nb201", "nb201", "NAS-Bench-201, 15,625 architectures: official .pth, NATS dir or CSV "
                    "(needs --benchmark-file)")
def load_nb201(file: Path | None) -> NB201Benchmark:
    """Load NB-201 from ``file``, converting it on first use and from the cache afterwards.

    Raises:
        BenchmarkError: no file given, a missing or unreadable source, or a
            corrupted cache (the message says which folder to delete).
    """
    if file is None:
        raise BenchmarkError(f"the nb201 benchmark needs --benchmark-file: {ACCEPTED}")
    path = Path(file).expanduser()
    if not path.exists():
        raise BenchmarkError(f"nb201 benchmark file {path} does not exist (accepted: {ACCEPTED})")
    digest = source_digest(path)
    cache = cache_root() / f"nb201-{digest[:16]}"
    if (cache / "metadata.json").is_file():
        try:
            table = Table.load(cache)
        except BenchmarkError as e:
            raise BenchmarkError(f"{e} [cached NB-201 table of {path.name}: delete {cache} to convert again]") from None
        if table.space == "nb201" and table.metadata.get("converter_version") == CONVERTER_VERSION:
            return NB201Benchmark(table, name="nb201")
        log.info("cache %s was made by another converter version; converting again", cache)
    log.info("converting %s into %s (once)", path, cache)
    table = convert(path)
    table.metadata.update(source_digest=digest, converter_version=CONVERTER_VERSION)
    table.save(cache)
    return NB201Benchmark(Table.load(cache), name="nb201")  # reloaded, so the first load sees what later ones see
