"""NB-201 accuracies published as CSV, and merging of several sources.

Two forms are recognised by their columns:

- 200-epoch test means: ``ArchitectureString``, ``CIFAR10TestAccuracy200Epochs``,
  ``CIFAR100TestAccuracy200Epochs``, ``ImageNetTestAccuracy200Epochs``
  (other columns, e.g. ``UniqueString``, are ignored);
- 12-epoch means: ``cellstr``, ``cifar10-val``, ``cifar10-test``, ``cifar100-val``,
  ``cifar100-test``, ``imagenet-val``, ``imagenet-test`` (``arch`` is ignored).

Both publish seed means only, so values go to ``Table.means`` with no seeds.
Rows are placed by parsing the architecture string, never by file order, so a
CSV in any order or covering a subset works (the table then holds just those
architectures, in official index order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.nb201.official import arch_indices, canonical_archs, seed_order
from benchmarks.table import MetricKey, Table, sha256_file
from search_spaces.errors import BenchmarkError

#: form name -> (architecture column, epochs, {value column: (dataset, split)})
FORMS: dict[str, tuple[str, int, dict[str, tuple[str, str]]]] = {
    "200epoch-test": ("ArchitectureString", 200, {
        "CIFAR10TestAccuracy200Epochs": ("cifar10", "test"),
        "CIFAR100TestAccuracy200Epochs": ("cifar100", "test"),
        "ImageNetTestAccuracy200Epochs": ("ImageNet16-120", "test")}),
    "12epoch-valid-test": ("cellstr", 12, {
        "cifar10-val": ("cifar10", "valid"), "cifar10-test": ("cifar10", "test"),
        "cifar100-val": ("cifar100", "valid"), "cifar100-test": ("cifar100", "test"),
        "imagenet-val": ("ImageNet16-120", "valid"), "imagenet-test": ("ImageNet16-120", "test")}),
}


def _expected() -> str:
    return " or ".join(f"[{a}, {', '.join(c)}]" for a, _, c in FORMS.values())


def import_csv(path: str | Path) -> Table:
    """Convert one NB-201 CSV into a table ordered by official index.

    Raises:
        BenchmarkError: unreadable file, unknown columns (the message lists the
            accepted ones), a malformed or repeated architecture string.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except Exception as e:  # pandas raises several parser error types
        raise BenchmarkError(f"{path}: not a readable CSV ({type(e).__name__}: {e})") from None
    for form, (arch_col, epochs, cols) in FORMS.items():
        if arch_col in df.columns and set(cols) <= set(df.columns):
            break
    else:
        raise BenchmarkError(f"{path}: unknown NB-201 CSV columns {list(df.columns)[:10]}; expected {_expected()}")
    if df.empty:
        raise BenchmarkError(f"{path}: the CSV has no rows")
    short = df.index[df.isna().any(axis=1) & df[arch_col].isna()] if arch_col in df else []
    if len(short):  # a row cut off before its architecture string: say which, not "got nan"
        raise BenchmarkError(f"{path}: row {int(short[0]) + 2} is incomplete (no architecture string; a truncated "
                             "file?)")
    canonical = canonical_archs()[0]
    index = arch_indices(df[arch_col].tolist(), path)
    uniq, counts = np.unique(index, return_counts=True)
    if (counts > 1).any():
        raise BenchmarkError(f"{path}: architecture {canonical[uniq[counts > 1][0]]} appears {counts.max()} times")
    order = np.argsort(index, kind="stable")
    archs = [canonical[i] for i in index[order]]
    try:
        means = {MetricKey(ds, split, "accuracy", epochs): df[c].to_numpy(dtype=np.float64)[order]
                 for c, (ds, split) in cols.items()}
    except (TypeError, ValueError) as e:
        raise BenchmarkError(f"{path}: non-numeric accuracy values ({e})") from None
    return Table("nb201", archs, [], {}, means, {
        "source": [path.name], "source_sha256": [sha256_file(path)], "converter": [f"nb201-csv:{form}"]})


def _fill(dst: np.ndarray, rows: np.ndarray, src: np.ndarray, what: str) -> None:
    # Several sources may cover different rows of one column; they must agree where both have a value.
    cur = dst[rows]
    both = ~np.isnan(cur) & ~np.isnan(src)
    if both.any() and not np.allclose(cur[both], src[both], rtol=0, atol=1e-9):
        raise BenchmarkError(f"two sources disagree on {what}")
    dst[rows] = np.where(np.isnan(src), cur, src)


def merge_tables(tables: list[Table]) -> Table:
    """Union of NB-201 tables: rows by architecture (official order), columns by key.

    A key present in several tables is combined row by row; conflicting values
    raise ``BenchmarkError``. Provenance lists are concatenated.
    """
    if not tables:
        raise BenchmarkError("nothing to merge: no NB-201 source tables")
    union = sorted({a for t in tables for a in t.archs})
    archs = [union[j] for j in np.argsort(arch_indices(union, "merge"), kind="stable")]
    row = {a: i for i, a in enumerate(archs)}
    seeds = sorted({s for t in tables for s in t.seeds}, key=seed_order)
    per_seed: dict[MetricKey, np.ndarray] = {}
    means: dict[MetricKey, np.ndarray] = {}
    meta: dict[str, list] = {"source": [], "source_sha256": [], "converter": []}
    for t in tables:
        rows = np.array([row[a] for a in t.archs], dtype=np.int64)
        for k, v in t.means.items():
            _fill(means.setdefault(k, np.full(len(archs), np.nan)), rows, v, f"{k} (mean)")
        for k, v in t.per_seed.items():
            dst = per_seed.setdefault(k, np.full((len(archs), len(seeds)), np.nan))
            for j, s in enumerate(t.seeds):
                _fill(dst[:, seeds.index(s)], rows, v[:, j], f"{k} seed {s}")  # a view: filled in place
        for key, acc in meta.items():
            val = t.metadata.get(key)
            acc.extend(val if isinstance(val, list) else [val])
    return Table("nb201", archs, seeds, per_seed, means, meta)
