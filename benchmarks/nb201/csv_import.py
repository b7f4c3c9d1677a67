"""Importer of NB-201 accuracies published as CSV (the forms in ``shared/data/nb201``).

Two forms are recognised by their columns:
- 200-epoch test means: ``ArchitectureString``, ``CIFAR10TestAccuracy200Epochs``,
  ``CIFAR100TestAccuracy200Epochs``, ``ImageNetTestAccuracy200Epochs``;
- 12-epoch means: ``cellstr``, ``cifar10-val``, ``cifar10-test``, ``cifar100-val``,
  ``cifar100-test``, ``imagenet-val``, ``imagenet-test``.
Only means are published, so they go to ``Table.means``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.table import MetricKey, Table, sha256_file
from search_spaces import get_space
from search_spaces.errors import ArchitectureError, BenchmarkError

FORMS = {
    "200epoch-test": ("ArchitectureString", 200, {
        "CIFAR10TestAccuracy200Epochs": ("cifar10", "test"),
        "CIFAR100TestAccuracy200Epochs": ("cifar100", "test"),
        "ImageNetTestAccuracy200Epochs": ("ImageNet16-120", "test")}),
    "12epoch-valid-test": ("cellstr", 12, {
        "cifar10-val": ("cifar10", "valid"), "cifar10-test": ("cifar10", "test"),
        "cifar100-val": ("cifar100", "valid"), "cifar100-test": ("cifar100", "test"),
        "imagenet-val": ("ImageNet16-120", "valid"), "imagenet-test": ("ImageNet16-120", "test")}),
}


def import_csv(path: str | Path) -> Table:
    """Convert one CSV into a table ordered by official NB-201 index."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except Exception as e:
        raise BenchmarkError(f"{path}: not a readable CSV ({type(e).__name__}: {e})") from None
    for form, (arch_col, epochs, cols) in FORMS.items():
        if arch_col in df.columns and set(cols) <= set(df.columns):
            break
    else:
        expected = "; ".join(f"{a} + {', '.join(c)}" for a, _, c in FORMS.values())
        raise BenchmarkError(f"{path}: unknown NB-201 CSV columns {list(df.columns)[:8]} (expected {expected})")
    space = get_space("nb201")
    try:
        index = np.array([space.from_str(s).index for s in df[arch_col]])
    except ArchitectureError as e:
        raise BenchmarkError(f"{path}: {e}") from None
    order = np.argsort(index)
    archs = [space.to_str(space.from_index(int(i))) for i in index[order]]
    means = {MetricKey(ds, split, "accuracy", epochs): df[c].to_numpy(dtype=np.float64)[order]
             for c, (ds, split) in cols.items()}
    return Table("nb201", archs, [], {}, means, {
        "source": [path.name], "source_sha256": [sha256_file(path)], "converter": f"nb201-csv:{form}"})


def merge_tables(tables: list[Table]) -> Table:
    """Union of several NB-201 tables (rows by architecture, official order); columns must not clash."""
    space = get_space("nb201")
    archs = sorted({a for t in tables for a in t.archs}, key=lambda s: space.from_str(s).index)
    row = {a: i for i, a in enumerate(archs)}
    seeds = sorted({s for t in tables for s in t.seeds})
    per_seed: dict[MetricKey, np.ndarray] = {}
    means: dict[MetricKey, np.ndarray] = {}
    meta: dict = {"source": [], "source_sha256": [], "converter": []}
    for t in tables:
        rows = np.array([row[a] for a in t.archs], dtype=np.int64)
        for k, v in t.means.items():
            if k in means:
                raise BenchmarkError(f"two sources both provide {k}")
            means[k] = np.full(len(archs), np.nan)
            means[k][rows] = v
        for k, v in t.per_seed.items():
            if k in per_seed:
                raise BenchmarkError(f"two sources both provide per-seed {k}")
            per_seed[k] = np.full((len(archs), len(seeds)), np.nan)
            for j, s in enumerate(t.seeds):
                per_seed[k][rows, seeds.index(s)] = v[:, j]
        for key in meta:
            val = t.metadata.get(key)
            meta[key].extend(val if isinstance(val, list) else [val])
    return Table("nb201", archs, seeds, per_seed, means, meta)
