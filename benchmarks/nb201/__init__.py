"""NAS-Bench-201 ground truth: official .pth, NATS-Bench directory or CSV, one canonical cached table.

Dataset and split names (see ``official.SPLITS`` for the official names):
``cifar10`` / ``cifar100`` / ``ImageNet16-120`` x ``train`` / ``valid`` / ``test``;
cifar10 ``test`` is the model trained on train+valid tested on the test set,
cifar10 ``valid`` the model trained on train tested on the held-out valid half.
Epochs: 12 (official "less") and 200 ("full").
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import register_benchmark
from benchmarks.base import TabularBenchmark
from benchmarks.nb201.csv_import import import_csv, merge_tables
from benchmarks.nb201.official import SPLITS, import_nats_dir, import_pth
from benchmarks.table import Table, cache_root, sha256_file
from search_spaces.errors import BenchmarkError

ACCEPTED = ("an official NAS-Bench-201-v1_*.pth file, a NATS-tss-v1_0-3ffb9-simple directory, "
            "an NB-201 CSV, or a folder of NB-201 CSVs")


def _source_digest(path: Path) -> str:
    if path.is_file():
        return sha256_file(path)
    import hashlib

    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file() and (f.suffix == ".csv" or f.name == "meta.pickle.pbz2"):
            h.update(f.name.encode())
            h.update(sha256_file(f).encode())
    return h.hexdigest()


def convert(path: Path) -> Table:
    """Convert any accepted source into one table (no caching)."""
    if path.is_dir():
        if (path / "meta.pickle.pbz2").is_file():
            return import_nats_dir(path)
        csvs = sorted(path.glob("*.csv"))
        if not csvs:
            raise BenchmarkError(f"{path}: no NB-201 data found (accepted: {ACCEPTED})")
        return merge_tables([import_csv(c) for c in csvs])
    if path.suffix == ".csv":
        return import_csv(path)
    return import_pth(path)


@register_benchmark("nb201", "nb201", "NAS-Bench-201: official .pth, NATS dir or CSV (--benchmark-file)")
def load_nb201(file: Path | None) -> TabularBenchmark:
    """Load (converting once, then from the cache) the NB-201 benchmark from ``file``."""
    if file is None:
        raise BenchmarkError(f"benchmark 'nb201' needs --benchmark-file: {ACCEPTED}")
    file = Path(file).expanduser()
    if not file.exists():
        raise BenchmarkError(f"benchmark 'nb201': {file} does not exist ({ACCEPTED})")
    cache = cache_root() / f"nb201-{_source_digest(file)[:16]}"
    if (cache / "metadata.json").is_file():
        return TabularBenchmark(Table.load(cache), name="nb201")
    table = convert(file)
    table.save(cache)
    return TabularBenchmark(table, name="nb201")


__all__ = ["SPLITS", "convert", "import_csv", "import_nats_dir", "import_pth", "load_nb201", "merge_tables"]
